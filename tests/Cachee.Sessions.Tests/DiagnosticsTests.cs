using System.Diagnostics.Metrics;
using Cachee.Sessions.Testing;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Tests;

public sealed class DiagnosticsTests
{
    [Fact]
    public async Task Metrics_ArePublishedOnTheCacheeMeter()
    {
        await using var fleet = new CacheeTestFleet(o => o.L1MaxEntries = 2);
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1, 2, 3], new DistributedCacheEntryOptions());
        _ = await a.GetAsync("k");
        _ = await b.GetAsync("k");
        _ = await b.GetAsync("absent");
        await a.SetAsync("x", [1], new DistributedCacheEntryOptions());
        await a.SetAsync("y", [1], new DistributedCacheEntryOptions());

        var seen = MeasurementsOf(a);

        Assert.Equal(1, seen["cachee.l1.hits"]);
        Assert.Equal(3, seen["cachee.invalidations.sent"]);
        Assert.Equal(1, seen["cachee.l1.evictions"]);
        Assert.Equal(2, seen["cachee.l1.entries"]);
        Assert.Equal(4, seen["cachee.l1.bytes"]); // "k" (3 bytes) was read, so CLOCK evicted "x" and kept "k" and "y"
        Assert.Equal(0, seen["cachee.invalidations.malformed"]);
        var bStats = b.GetStatistics();
        // b never read "x" or "y", so their writes were not sent to b.
        Assert.Equal((1, 2, 1, 0), (bStats.L2Hits, bStats.L1Misses, bStats.L2Misses, bStats.InvalidationsReceived));
    }

    [Fact]
    public async Task UnreadablePayload_IsACountedMiss()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        fleet.Redis.PutCorrupt("bad");
        Assert.Null(await a.GetAsync("bad"));
        Assert.Null(a.Get("bad"));
        Assert.Equal(2, a.GetStatistics().UnreadablePayloads);
        await a.SetAsync("bad", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await a.GetAsync("bad"));
    }

    [Fact]
    public async Task L1Hits_AreCountedOnlyWhenAskedFor_MissesAlways()
    {
        await using var fleet = new CacheeTestFleet(o => o.CountL1Hits = false);
        var a = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], a.Get("k"));
        Assert.Equal([1], await a.GetAsync("k"));
        Assert.Null(a.Get("absent"));

        var reported = MeasurementsOf(a).Keys;
        var stats = a.GetStatistics();
        Assert.Equal((null, null, 1L, 1L), (stats.L1Hits, stats.L1HitRatio, stats.L1Misses, stats.L2Misses));
        Assert.Contains("cachee.l1.misses", reported);
        Assert.DoesNotContain("cachee.l1.hits", reported);
    }

    [Fact]
    public void HitRatio_IsHitsOverReads_OrNullWhenHitsAreNotCounted()
    {
        Assert.Null(new CacheeStatistics().L1HitRatio);
        Assert.Equal(0, new CacheeStatistics { L1Hits = 0 }.L1HitRatio);
        Assert.Equal(0.75, new CacheeStatistics { L1Hits = 3, L1Misses = 1 }.L1HitRatio);
        Assert.Contains("L1Hits = 3, L1Misses = 1,", new CacheeStatistics { L1Hits = 3, L1Misses = 1 }.ToString(), StringComparison.Ordinal);
    }

    // What the cache's instruments report now, by instrument name. Every cache in the process publishes on the meter (other
    // tests run alongside): measurements are kept by the cache's instance tag.
    private static Dictionary<string, long> MeasurementsOf(TieredDistributedCache cache)
    {
        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Cachee.Sessions")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "cachee.instance" && (string?)tag.Value == cache.InstanceId)
                {
                    seen[instrument.Name] = value;
                }
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return seen;
    }
}
