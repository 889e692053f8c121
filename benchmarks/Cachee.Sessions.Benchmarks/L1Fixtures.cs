using System.Globalization;
using Cachee.Sessions.Testing;

namespace Cachee.Sessions.Benchmarks;

/// <summary>What the L1 benchmarks share: keys of about 40 characters, values, and a Cachee instance whose L1 is live.</summary>
internal static class L1Fixtures
{
    /// <summary>A session-like key of 40 characters, distinct for every <paramref name="index"/>.</summary>
    public static string Key(int index) => "session:" + index.ToString("D8", CultureInfo.InvariantCulture) + ":3f2a9c1e-7b4d-4e1a-9c2b";

    /// <summary>A value of <paramref name="size"/> bytes, not all zero.</summary>
    public static byte[] Value(int size, int seed = 1)
    {
        var value = new byte[size];
        new Random(seed).NextBytes(value);
        return value;
    }

    /// <summary>
    /// A Cachee instance over the in-memory stand-in for Redis (so an L1 benchmark measures L1, not the network), with its
    /// subscription live: its L1 is served exactly as on Redis.
    /// </summary>
    public static TieredDistributedCache StartCache(Action<CacheeOptions>? configure = null)
    {
        var options = new CacheeOptions { Configuration = "in-memory" };
        configure?.Invoke(options);
        var server = new InMemoryRedis(TimeProvider.System);
        var id = Guid.NewGuid().ToString("N");
        var cache = new TieredDistributedCache(options, new InMemoryL2Store(server, id), new InMemoryInvalidationBus(server.Hub, id), id);
        StartAndWaitUntilSubscribed(cache);
        return cache;
    }

    /// <summary>Starts a cache's coordinator and waits (10 s at most) until its subscription is live, so that L1 is served.</summary>
    public static void StartAndWaitUntilSubscribed(TieredDistributedCache cache)
    {
        cache.Coordinator.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        var spinner = default(SpinWait);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!cache.Coordinator.IsSubscribed)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException("The cache's subscription did not become live.");
            }

            spinner.SpinOnce();
        }
    }

    /// <summary>Throws unless <paramref name="actual"/> holds <paramref name="expected"/>: a benchmark must measure what it says.</summary>
    public static void Check(byte[]? expected, byte[]? actual, string what)
    {
        if (expected is null || actual is null || !expected.AsSpan().SequenceEqual(actual))
        {
            throw new InvalidOperationException($"{what} did not return the expected value.");
        }
    }
}
