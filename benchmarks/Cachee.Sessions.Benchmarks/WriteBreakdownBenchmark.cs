using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Cachee.Sessions.TestSupport;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// Where a write's time goes, idle: two instances over one loopback <c>redis-server</c>, one write at a time of a 2 KB value,
/// with RedisCache's write and a plain <c>PUBLISH</c> round trip measured in the same run. Three cases: a key no other
/// instance holds, a key the other instance holds (its copy is hit between writes, so it keeps it), and RedisCache. For the
/// held key, the write's spans are split: the write script's round trip, when the holder had dropped its copy and sent its
/// acknowledgement (seen from the holder's side), and the wait for that acknowledgement. Medians of each, in microseconds.
/// <para>Run: <c>dotnet run -c Release --project benchmarks/Cachee.Sessions.Benchmarks -- write-breakdown [writes] [busy]</c>;
/// with <c>busy</c>, CPU-bound work items keep the thread pool saturated meanwhile, as a loaded application's requests do.</para>
/// </summary>
internal static class WriteBreakdownBenchmark
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };

    public static async Task RunAsync(string[] args)
    {
        var writes = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5_000;
        var busy = args.Length > 1 && args[1] == "busy";
        using var redis = RedisProcess.Start();
        var prefix = $"breakdown-{Guid.NewGuid():N}:";
        using var writer = await StartAsync(redis.Endpoint, prefix);
        using var holder = await StartAsync(redis.Endpoint, prefix);
        using var redisCache = new RedisCache(Options.Create(new RedisCacheOptions { Configuration = redis.Endpoint, InstanceName = prefix }));
        await using var plain = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        var value = new byte[2048];
        Random.Shared.NextBytes(value);

        var spans = new ConcurrentDictionary<string, ConcurrentQueue<double>>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == CacheeTelemetry.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = activity => spans.GetOrAdd(
                activity.DisplayName + (activity.GetTagItem("cachee.holders_notified") is long and > 0 ? " (holder)" : string.Empty),
                _ => new()).Enqueue(activity.Duration.TotalMicroseconds),
        };
        ActivitySource.AddActivityListener(listener);

        long writeStarted = 0;
        var holderDone = new ConcurrentQueue<double>();
        holder.Coordinator.Invalidated += (_, _) => holderDone.Enqueue(Stopwatch.GetElapsedTime(Interlocked.Read(ref writeStarted)).TotalMicroseconds);

        // With "busy": the thread pool kept saturated by CPU-bound work items (as a loaded web app's), so that every
        // continuation waits its turn in the pool's queue.
        using var stopBusy = new CancellationTokenSource();
        var busyWork = busy
            ? Enumerable.Range(0, 4 * Environment.ProcessorCount).Select(_ => Task.Run(async () =>
            {
                while (!stopBusy.IsCancellationRequested)
                {
                    var until = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 5000); // 200 µs
                    while (Stopwatch.GetTimestamp() < until)
                    {
                    }

                    await Task.Yield();
                }
            })).ToArray()
            : [];

        // Every case in turn within each round (so that none gets a quieter machine than another); the first round warms up.
        var database = writer.GetDatabase();
        var raw = new Redis.Scripts.EntryWrite(
            -1, Sliding.SlidingExpiration!.Value.Ticks, value, 1_200_000, "nobody", prefix + "inbox:", "i1|nobody|", "|0|raw", 600_000, "PUBLISH",
            string.Empty, RedisValue.EmptyString, Hold: false);
        RedisKey[] rawKeys = [prefix + "raw", prefix + "raw:holders"];
        _ = await database.ScriptEvaluateAsync(Redis.Scripts.SetScript.Text.Lua, rawKeys, Redis.Scripts.SetScript.Arguments(long.MaxValue, raw));
        var subscriber = plain.GetSubscriber();
        var cases = new Dictionary<string, List<double>>();
        for (var round = 0; round < 2; round++)
        {
            cases.Clear();
            spans.Clear();
            holderDone.Clear();
            var count = round == 0 ? 500 : writes;
            for (var i = 0; i < count; i++)
            {
                await TimeAsync(cases, "RedisCache SetAsync", () => redisCache.SetAsync("baseline", value, Sliding));
                await TimeAsync(cases, "plain PUBLISH round trip", () => subscriber.PublishAsync(RedisChannel.Literal("breakdown-nobody"), "x"));
                await TimeAsync(cases, "Cachee's write script alone (EVALSHA)", () => database.ScriptEvaluateAsync(
                    Redis.Scripts.SetScript.Text.Hash, rawKeys, Redis.Scripts.SetScript.Arguments(long.MaxValue, raw)));
                await TimeAsync(cases, "Cachee SetAsync, no other holder", () => writer.SetAsync("alone", value, Sliding));
                _ = await holder.GetAsync("shared"); // read twice: the holder's copies are hit, so it keeps them
                _ = await holder.GetAsync("shared");
                Interlocked.Exchange(ref writeStarted, Stopwatch.GetTimestamp());
                await TimeAsync(cases, "Cachee SetAsync, one holder", () => writer.SetAsync("shared", value, Sliding));
            }
        }

        await stopBusy.CancelAsync();
        await Task.WhenAll(busyWork);
        Console.WriteLine($"# Write breakdown: {writes} writes of 2 KB per case, one at a time, cases in turn, {Environment.ProcessorCount} cores{(busy ? ", thread pool kept busy" : string.Empty)}; µs");
        Console.WriteLine();
        Console.WriteLine("| step | p50 | p99 |");
        Console.WriteLine("|---|---|---|");
        foreach (var (name, times) in cases)
        {
            Row(name, times);
        }

        Row("  one holder: the write script returned (span)", spans.GetValueOrDefault("cachee write (holder)")?.ToArray() ?? []);
        Row("  one holder: the holder dropped its copy and acknowledged (from the write's start)", [.. holderDone]);
        Row("  one holder: the wait for the acknowledgement (span)", spans.GetValueOrDefault("cachee ack wait")?.ToArray() ?? []);
    }

    private static async Task TimeAsync(Dictionary<string, List<double>> cases, string name, Func<Task> operation)
    {
        var started = Stopwatch.GetTimestamp();
        await operation();
        var elapsed = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        if (!cases.TryGetValue(name, out var times))
        {
            cases[name] = times = [];
        }

        times.Add(elapsed);
    }

    private static void Row(string step, IReadOnlyList<double> microseconds)
    {
        var sorted = microseconds.Order().ToArray();
        Console.WriteLine(sorted.Length == 0
            ? $"| {step} | — | — |"
            : $"| {step} | {sorted[sorted.Length / 2]:N0} | {sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * 0.99))]:N0} |");
    }

    private static async Task<TieredDistributedCache> StartAsync(string endpoint, string prefix)
    {
        var cache = new TieredDistributedCache(Options.Create(new CacheeOptions { Configuration = endpoint, InstanceName = prefix, HoldOnlyPayingCopies = true }));
        await cache.Coordinator.StartAsync(CancellationToken.None);
        var started = Stopwatch.StartNew();
        while (!cache.Coordinator.IsSubscribed && started.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(10);
        }

        return cache;
    }
}
