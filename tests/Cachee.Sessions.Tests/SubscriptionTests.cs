using Cachee.Sessions.L1;
using Cachee.Sessions.Testing;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Tests;

/// <summary>L1 is served only while invalidations are heard; nothing from before a gap is served after it.</summary>
public sealed class SubscriptionTests
{
    [Fact]
    public async Task WithoutLiveSubscription_ReadsBypassL1()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        fleet.BusOf(a).Cut();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal([1], await a.GetAsync("k"));
        }

        Assert.Equal(0, a.GetStatistics().L1Hits);
        Assert.Equal(3, a.GetStatistics().L2Hits);
        Assert.Equal(1, a.GetStatistics().L1Entries); // kept, unserved, for stale-on-error only
        Assert.Equal(0, a.GetStatistics().StaleHits);
    }

    [Fact]
    public async Task WhenTheSubscriptionIsBack_CopiesFromBeforeTheGapAreDropped()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        fleet.BusOf(a).Cut();
        Assert.Equal(1, a.GetStatistics().L1Entries);
        fleet.BusOf(a).Restore();
        await Eventually.TrueAsync(() => a.Coordinator.IsSubscribed, "the subscription is live again");
        Assert.Equal(0, a.GetStatistics().L1Entries);
    }

    [Fact]
    public async Task AfterAGap_NothingCachedBeforeItIsServed()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await b.GetAsync("k"));

        fleet.BusOf(b).Cut();
        await a.SetAsync("k", [2], new DistributedCacheEntryOptions()); // b does not hear this one
        fleet.BusOf(b).Restore();

        Assert.Equal([2], await b.GetAsync("k"));
        Assert.Equal([2], await b.GetAsync("k"));
        Assert.Equal(1, b.GetStatistics().L1Hits);
    }

    [Fact]
    public async Task ReadStartedBeforeAGap_IsNotInstalledAfterIt()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        var ticket = a.L1.BeginRead("k");
        fleet.BusOf(a).Cut();
        fleet.BusOf(a).Restore();
        var entry = new L1.L1Entry("k", [1], 1, ticket.Epoch, long.MaxValue);
        Assert.False(a.L1.TryInstallRead(ticket, entry));
    }

    [Fact]
    public async Task WithoutHostedServiceStarted_FirstUseStartsTheSubscription()
    {
        await using var fleet = new CacheeTestFleet();
        var a = fleet.AddUnstarted();
        Assert.False(a.Coordinator.IsSubscribed);
        Assert.Null(await a.GetAsync("k"));
        await Eventually.TrueAsync(() => a.Coordinator.IsSubscribed, "first use starts the subscription");

        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await a.GetAsync("k"));
        Assert.Equal(1, a.GetStatistics().L1Hits);
        await b.SetAsync("k", [2], new DistributedCacheEntryOptions());
        Assert.Equal([2], await a.GetAsync("k"));
    }

    [Fact]
    public async Task WritesWhileNotSubscribed_StillReachRedisAndOthers()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        fleet.BusOf(a).Cut();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await b.GetAsync("k"));
        Assert.Equal(0, a.GetStatistics().L1Entries);
    }
}
