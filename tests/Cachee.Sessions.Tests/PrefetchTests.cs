using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Tests;

/// <summary>An instance that held a key fetches its new value right after hearing it changed, before acknowledging.</summary>
public sealed class PrefetchTests
{
    [Fact]
    public async Task InvalidatedKeyHeldHere_IsFetchedBackBeforeTheWriteReturns()
    {
        await using var fleet = new Fleet(o => o.InvalidationAckTimeout = TimeSpan.FromSeconds(5));
        var a = await fleet.AddAsync();
        var b = await fleet.AddAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        Assert.Equal([1], await b.GetAsync("k"));
        var ttlBefore = fleet.Server.Pttl("k");

        await a.SetAsync("k", [2], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });

        Assert.Equal(1, b.GetStatistics().Prefetches);
        Assert.Equal([2], await b.GetAsync("k"));
        Assert.Equal(1, b.GetStatistics().L1Hits); // the first read was a miss, this one a hit
        Assert.Equal(ttlBefore, fleet.Server.Pttl("k")); // the fetch did not count as an access (fake clock did not move)
    }

    [Fact]
    public async Task KeyNotHeldHere_IsNotFetched()
    {
        await using var fleet = new Fleet();
        var a = await fleet.AddAsync();
        var b = await fleet.AddAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        await a.SetAsync("k", [2], new DistributedCacheEntryOptions());
        Assert.Equal(0, b.GetStatistics().Prefetches);
        Assert.Equal(0, b.GetStatistics().L1Entries);
    }

    [Fact]
    public async Task PrefetchOff_TheNextReadMisses()
    {
        await using var fleet = new Fleet(o => o.PrefetchOnInvalidation = false);
        var a = await fleet.AddAsync();
        var b = await fleet.AddAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await b.GetAsync("k"));
        await a.SetAsync("k", [2], new DistributedCacheEntryOptions());
        Assert.Equal([2], await b.GetAsync("k"));
        Assert.Equal((0, 0L), (b.GetStatistics().Prefetches, b.GetStatistics().L1Hits));
    }

    [Fact]
    public async Task RemovedKey_IsNotBroughtBack()
    {
        await using var fleet = new Fleet(o => o.InvalidationAckTimeout = TimeSpan.FromSeconds(5));
        var a = await fleet.AddAsync();
        var b = await fleet.AddAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await b.GetAsync("k"));
        await a.RemoveAsync("k");
        Assert.Equal(0, b.GetStatistics().L1Entries);
        Assert.Null(await b.GetAsync("k"));
    }
}
