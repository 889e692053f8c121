using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// What a cache leaves behind, and what its end waits for: disposal releases threads, memory and the L1 (metric callbacks
/// of a shared meter included) and never waits for Redis; the host's stop drains the replay queue first.
/// Runs alone (no other test's threads or allocations in the counts).
/// </summary>
[Collection(Name)]
public sealed class LifetimeTests(RedisServer redis)
{
    public const string Name = "lifetime";

    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };

    [Fact]
    public async Task TwoHundredCachesCreatedUsedAndDisposed_LeaveNoThreadsMemoryOrCachesBehind()
    {
        using var metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = metrics.GetRequiredService<IMeterFactory>();
        using var listener = new MeterListener { InstrumentPublished = (instrument, l) => l.EnableMeasurementEvents(instrument) };
        listener.Start();

        await UseAndDisposeAsync(meterFactory, 0, sync: false); // warms what is made once per process (clock thread, socket manager)
        var (threads, memory) = await SettledAsync();

        var alive = new List<WeakReference>();
        for (var i = 1; i <= 200; i++)
        {
            alive.Add(await UseAndDisposeAsync(meterFactory, i, sync: i % 2 == 0));
        }

        listener.RecordObservableInstruments(); // the shared meter still calls the disposed caches' callbacks
        (int Threads, long Memory) after = default;
        await Eventually.TrueAsync(
            () =>
            {
                after = Settle();
                return after.Threads <= threads && after.Memory < memory + (4 << 20) && alive.All(reference => !reference.IsAlive);
            },
            "threads, managed memory and the caches return to where they started",
            TimeSpan.FromSeconds(30),
            () => $"threads {threads} -> {after.Threads}, memory {memory:N0} -> {after.Memory:N0} B, caches alive: {alive.Count(r => r.IsAlive)}");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ADisposedCache_ServesNothingFromL1_AndSaysItIsDisposed(bool sync)
    {
        await using var instances = new Instances(redis);
        var cache = await instances.StartAsync();
        await cache.SetAsync("k", [1], Sliding);
        Assert.NotNull(cache.Get("k")); // an L1 hit
        if (sync)
        {
            cache.Dispose();
        }
        else
        {
            await cache.DisposeAsync();
        }

        Assert.Throws<ObjectDisposedException>(() => cache.Get("k"));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => cache.GetAsync("k"));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => cache.SetAsync("k", [2], Sliding));
    }

    [Fact]
    public async Task Dispose_DoesNotWaitForAPausedRedis()
    {
        using var server = RedisProcess.Start();
        await using var instances = new Instances(server.Endpoint);
        var cache = await instances.StartAsync(o => o.L2OperationTimeout = TimeSpan.FromSeconds(30));
        await cache.SetAsync("k", [1], Sliding);
        server.Pause();
        try
        {
            var stuck = cache.SetAsync("k", [2], Sliding); // waits for the paused server, up to 30 s
            var watch = Stopwatch.StartNew();
            cache.Dispose();
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"Dispose took {watch.Elapsed}");
            _ = await Record.ExceptionAsync(() => stuck); // failed by the closed connection, not waited for
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"the pending write ended after {watch.Elapsed}");
        }
        finally
        {
            server.Resume();
        }
    }

    [Fact]
    public async Task HostStop_WritesTheReplayQueueToRedis_AndDisposalWithoutAStopLogsWhatItDrops()
    {
        // Durable, so that v1 survives the crash: the queued v2 is based on it and is replayed only over it.
        using var server = RedisProcess.Start("--appendonly", "yes", "--appendfsync", "always");
        var prefix = $"t{Guid.NewGuid():N}:";
        var logs = new CapturingLoggerProvider();
        using var host = BuildHost(server.Endpoint, prefix, logs);
        await host.StartAsync();
        var cache = host.Services.GetRequiredService<TieredDistributedCache>();
        await Eventually.TrueAsync(() => cache.Coordinator.IsSubscribed, "the cache subscribes"); // so that it keeps v1 and knows its version
        await cache.SetAsync("drained", "v1"u8.ToArray(), Sliding);

        server.Kill();
        await cache.SetAsync("drained", "v2"u8.ToArray(), Sliding); // accepted into the replay queue
        Assert.Equal(1, cache.GetStatistics().ReplayPending);
        server.Restart();
        using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await host.StopAsync(deadline.Token);
        }

        Assert.True(
            cache.GetStatistics() is { ReplayPending: 0, ReplayApplied: 1 },
            $"{cache.GetStatistics()}\n{string.Join('\n', logs.Lines)}");
        using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(server.Endpoint);
        Assert.Equal("v2", (string?)await admin.GetDatabase().HashGetAsync(prefix + "drained", "data"));

        // A second cache disposed with a write still queued and no stop before: the loss is logged, not silent.
        using var lost = BuildHost(server.Endpoint, prefix, logs);
        await lost.StartAsync();
        var other = lost.Services.GetRequiredService<TieredDistributedCache>();
        await Eventually.TrueAsync(() => other.Coordinator.IsSubscribed, "the second cache subscribes");
        server.Kill();
        await other.SetAsync("dropped", "v1"u8.ToArray(), Sliding);
        other.Dispose();
        Assert.Contains(logs.Lines, line => line.Contains("1 queued writes Redis could not take; they are lost", StringComparison.Ordinal));
        server.Restart();
    }

    private static IHost BuildHost(string endpoint, string prefix, CapturingLoggerProvider logs)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Services.AddCacheeDistributedCache(o =>
        {
            o.Configuration = endpoint;
            o.InstanceName = prefix;
            o.WriteFailureMode = WriteFailureMode.Replay;
            o.CircuitBreakerBreakDuration = TimeSpan.FromMilliseconds(200);
        });
        return builder.Build();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private async Task<WeakReference> UseAndDisposeAsync(IMeterFactory meterFactory, int index, bool sync)
    {
        var options = new CacheeOptions { Configuration = redis.Endpoint, InstanceName = $"life{Guid.NewGuid():N}:", CountL1Hits = true };
        var cache = new TieredDistributedCache(Options.Create(options), null, null, meterFactory);
        await cache.Coordinator.StartAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => cache.Coordinator.IsSubscribed, "the subscription becomes live");
        await cache.SetAsync($"k{index}", new byte[64 * 1024], Sliding);
        Assert.NotNull(await cache.GetAsync($"k{index}"));
        Assert.Equal(1, cache.GetStatistics().L1Entries);
        if (sync)
        {
            cache.Dispose();
        }
        else
        {
            await cache.DisposeAsync();
        }

        return new WeakReference(cache);
    }

    private static async Task<(int Threads, long Memory)> SettledAsync()
    {
        var settled = Settle();
        await Eventually.TrueAsync(
            () =>
            {
                var now = Settle();
                var same = now.Threads == settled.Threads;
                settled = now;
                return same;
            },
            "the thread count settles");
        return settled;
    }

    // Threads of this process outside the thread pool (whose size the pool manages on its own), and managed memory after a
    // full collection.
    private static (int Threads, long Memory) Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var process = Process.GetCurrentProcess();
        return (process.Threads.Count - ThreadPool.ThreadCount, GC.GetTotalMemory(forceFullCollection: true));
    }
}

[CollectionDefinition(LifetimeTests.Name, DisableParallelization = true)]
public sealed class LifetimeCollection : ICollectionFixture<RedisServer>
{
}
