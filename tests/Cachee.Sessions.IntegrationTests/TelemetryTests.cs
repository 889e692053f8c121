using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// What Cachee reports to OpenTelemetry, read with the SDK's in-memory exporter: a span per operation that goes to
/// Redis, none for an L1 hit, and the meter's instruments with their units, created through <see cref="IMeterFactory"/>.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class TelemetryTests(RedisServer redis)
{
    // Listeners are process-wide and other tests run alongside: each test runs its operations under a trace of its own and
    // looks only at the spans of that trace.
    private static readonly ActivitySource Test = new(nameof(TelemetryTests));

    private static TracerProvider Tracing(List<Activity> spans) =>
        Sdk.CreateTracerProviderBuilder().AddSource(CacheeTelemetry.ActivitySourceName, nameof(TelemetryTests)).AddInMemoryExporter(spans).Build();

    private static List<Activity> SpansOf(Activity trace, List<Activity> spans) =>
        [.. Snapshot(spans).Where(span => span.TraceId == trace.TraceId && span.Source.Name == CacheeTelemetry.ActivitySourceName)];

    // The exporter appends from whichever thread ends a span, other tests' included: read a copy, never the list itself.
    private static Activity[] Snapshot(List<Activity> spans) => [.. spans.ToArray().Where(span => span is not null)];

    [Fact]
    public async Task EveryOperationOnRedis_HasASpan_AnL1HitHasNone()
    {
        var spans = new List<Activity>();
        using var tracing = Tracing(spans);
        await using var instances = new Instances(redis);
        var writer = await instances.StartAsync();
        var reader = await instances.StartAsync();
        var trace = Test.StartActivity("operations")!;
        await writer.SetStringAsync("k", "v1");
        Assert.Equal("v1", await reader.GetStringAsync("k")); // from Redis
        Assert.Equal("v1", await reader.GetStringAsync("k")); // from L1
        Assert.Null(await reader.GetAsync("missing"));
        await writer.SetStringAsync("k", "v2");              // the reader holds a copy: the writer waits for its acknowledgement
        await reader.RefreshAsync("missing");
        await writer.RemoveAsync("k");
        trace.Stop();
        tracing.ForceFlush();

        var ours = SpansOf(trace, spans);
        string[] names = [.. ours.Select(span => span.DisplayName)];
        Assert.Equal(2, ours.Count(span => span.DisplayName == "cachee load")); // one hit, one miss: the L1 hit made none
        var hit = ours.Single(span => span.DisplayName == "cachee load" && Equals(span.GetTagItem("cachee.hit"), true));
        Assert.Equal("redis", hit.GetTagItem("db.system.name"));
        Assert.Equal(2, hit.GetTagItem("cachee.bytes"));
        Assert.True((long)hit.GetTagItem("cachee.version")! >= 1);
        Assert.Contains(ours, span => span.DisplayName == "cachee load" && Equals(span.GetTagItem("cachee.hit"), false));
        var writes = ours.Where(span => span.DisplayName == "cachee write").ToList();
        Assert.Equal(2, writes.Count);
        Assert.All(writes, span => Assert.Equal(2L, span.GetTagItem("cachee.bytes")));
        Assert.Contains(ours, span => span.DisplayName == "cachee ack wait" && Equals(span.GetTagItem("cachee.ack.expected"), 1L) && Equals(span.GetTagItem("cachee.ack.complete"), true));
        Assert.Contains(ours, span => span.DisplayName == "cachee renew" && (string?)span.GetTagItem("cachee.renewal") == "Missing");
        Assert.Contains("cachee remove", names);
        Assert.All(ours, span => Assert.DoesNotContain(span.TagObjects, tag => tag.Value as string == "k")); // no key in any tag
    }

    [Fact]
    public async Task AReplayedWrite_HasItsSpan()
    {
        var spans = new List<Activity>();
        using var tracing = Tracing(spans);
        using var own = RedisProcess.Start();
        await using var instances = new Instances(own.Endpoint);
        var cache = await instances.StartAsync(o =>
        {
            o.WriteFailureMode = WriteFailureMode.Replay;
            o.L2OperationTimeout = TimeSpan.FromMilliseconds(300);
        });
        var value = new byte[12_345]; // a size no other test writes: this write's replay span is told apart by it

        own.Pause();
        try
        {
            await cache.SetAsync("queued", value);
            Assert.Equal(1, cache.GetStatistics().ReplayPending);
        }
        finally
        {
            own.Resume();
        }

        // The replay runs in the background, outside any trace of this test.
        await Eventually.TrueAsync(
            () =>
            {
                tracing.ForceFlush();
                return Snapshot(spans).Any(span => span.DisplayName == "cachee replay" && Equals(span.GetTagItem("cachee.bytes"), 12_345L)
                    && Equals(span.GetTagItem("cachee.replay.applied"), true));
            },
            "the replayed write's span is exported", TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task AFailedCall_IsRecordedOnItsSpan()
    {
        var spans = new List<Activity>();
        using var tracing = Tracing(spans);
        await using var instances = new Instances($"127.0.0.1:{RedisProcess.FreePort()},connectTimeout=200");
        var cache = instances.Create(o => o.L2OperationTimeout = TimeSpan.FromMilliseconds(200));

        var trace = Test.StartActivity("operations")!;
        _ = await Assert.ThrowsAsync<CacheUnavailableException>(() => cache.GetAsync("k"));
        trace.Stop();
        tracing.ForceFlush();

        var failed = Assert.Single(SpansOf(trace, spans), span => span.DisplayName == "cachee load");
        Assert.Equal(ActivityStatusCode.Error, failed.Status);
        Assert.NotNull(failed.GetTagItem("error.type"));
        Assert.Contains(failed.Events, e => e.Name == "exception");
    }

    [Fact]
    public async Task L1Hits_AllocateNothing_WhileTracingListens()
    {
        var spans = new List<Activity>();
        using var tracing = Tracing(spans);
        await using var instances = new Instances(redis);
        var cache = await instances.StartAsync();
        await cache.SetStringAsync("k", "v");
        _ = cache.Get("k");

        var trace = Test.StartActivity("hits")!;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            _ = cache.Get("k");
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        trace.Stop();
        tracing.ForceFlush();
        Assert.Equal(0, allocated);
        Assert.Empty(SpansOf(trace, spans));
    }

    [Fact]
    public async Task TheMeter_ComesFromIMeterFactory_WithUnitsAndTheInstanceTag()
    {
        var metrics = new List<Metric>();
        using var meters = Sdk.CreateMeterProviderBuilder().AddMeter(CacheeTelemetry.MeterName).AddInMemoryExporter(metrics).Build();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        var options = Options.Create(new CacheeOptions { Configuration = redis.Endpoint, InstanceName = $"m{Guid.NewGuid():N}:", CountL1Hits = true });
        using var writer = new TieredDistributedCache(options, loggerFactory: null, timeProvider: null, meterFactory: factory);
        using var reader = new TieredDistributedCache(options, loggerFactory: null, timeProvider: null, meterFactory: factory);
        foreach (var cache in new[] { writer, reader })
        {
            await cache.Coordinator.StartAsync(CancellationToken.None);
            await Eventually.TrueAsync(() => cache.Coordinator.IsSubscribed, "the subscription becomes live");
        }

        await writer.SetStringAsync("k", "v1");
        Assert.Equal("v1", await reader.GetStringAsync("k"));
        Assert.Equal("v1", await reader.GetStringAsync("k"));
        await writer.SetStringAsync("k", "v2");
        meters.ForceFlush();

        Metric Named(string name) => metrics.Last(metric => metric.Name == name);
        Assert.Equal("{read}", Named("cachee.l1.hits").Unit);
        Assert.Equal("{read}", Named("cachee.l2.hits").Unit);
        Assert.Equal("By", Named("cachee.l1.bytes").Unit);
        Assert.Equal("{state}", Named("cachee.l2.breaker.state").Unit);
        var ackWait = Named("cachee.invalidation.ack.duration");
        Assert.Equal("s", ackWait.Unit);
        Assert.Equal(MetricType.Histogram, ackWait.MetricType);
        long waits = 0;
        foreach (ref readonly var point in ackWait.GetMetricPoints())
        {
            waits += point.GetHistogramCount();
            var tags = new List<string>();
            foreach (var tag in point.Tags)
            {
                tags.Add(tag.Key);
            }

            Assert.Contains("cachee.instance", tags);
        }

        Assert.True(waits >= 1, "the second write waited for the reader's acknowledgement");
        long hits = 0;
        foreach (ref readonly var point in Named("cachee.l1.hits").GetMetricPoints())
        {
            hits += point.GetSumLong();
        }

        Assert.True(hits >= 1);
    }
}
