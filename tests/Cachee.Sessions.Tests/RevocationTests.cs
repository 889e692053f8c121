using Cachee.Sessions.L1;
using Cachee.Sessions.Testing;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Tests;

/// <summary>Changes by other clients, reported by the (fake) server's tracking, drop the copies of every instance that read the key.</summary>
public sealed class RevocationTests
{
    public enum Change
    {
        ForeignDelete,
        ForeignWrite,
        Expiry,
    }

    [Theory]
    [InlineData(Change.ForeignDelete)]
    [InlineData(Change.ForeignWrite)]
    [InlineData(Change.Expiry)]
    public async Task AChangeByAnotherClient_DropsEveryCopy(Change change)
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(5) });
        Assert.Equal([1], await b.GetAsync("k"));
        Assert.True(a.L1.TryPeek("k", out _) && b.L1.TryPeek("k", out _));

        switch (change)
        {
            case Change.ForeignDelete:
                fleet.Redis.DeleteFromOtherClient("k");
                break;
            case Change.ForeignWrite:
                fleet.Redis.SetFromOtherClient("k", [9]);
                break;
            case Change.Expiry:
                fleet.Time.Advance(TimeSpan.FromMinutes(5));
                fleet.Redis.ExpireDue(); // Redis' expiry cycle, before any sweep of L1
                break;
        }

        Assert.False(a.L1.TryPeek("k", out _));
        Assert.False(b.L1.TryPeek("k", out _));
        byte[]? expected = change == Change.ForeignWrite ? [9] : null;
        Assert.Equal(expected, await a.GetAsync("k"));
        Assert.Equal(expected, await b.GetAsync("k"));
        Assert.Equal((1L, 1L), (a.GetStatistics().Revocations, b.GetStatistics().Revocations));
    }

    [Fact]
    public async Task ACacheeWrite_IsNotRevokedOnTheWriter_AndTheOtherHoldersPrefetchOnlyWhatTheyUsed()
    {
        await using var fleet = new CacheeTestFleet(o => o.InvalidationAckTimeout = TimeSpan.FromSeconds(5));
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await b.GetAsync("k"));
        Assert.Equal([1], await b.GetAsync("k"));

        await a.SetAsync("k", [2], new DistributedCacheEntryOptions());

        Assert.Equal(0, a.GetStatistics().Revocations); // NOLOOP: the writer is not told of its own change
        Assert.Equal(1, b.GetStatistics().Revocations); // reported before the writer's own invalidation...
        await Eventually.TrueAsync(() => b.L1.TryPeek("k", out var copy) && copy.Version == 2, "b prefetched the new value"); // ...which prefetches
        Assert.True(a.L1.TryPeek("k", out var own) && own.Version == 2);
    }

    [Fact]
    public async Task EverythingRevoked_DropsEveryCopy_AndStartsANewEpoch()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        var epoch = a.L1.ServingEpoch;
        var ticket = a.L1.BeginRead("k");

        fleet.BusOf(a).RevokeAll();

        Assert.Equal(0, a.GetStatistics().L1Entries);
        Assert.NotEqual(epoch, a.L1.ServingEpoch);
        Assert.False(a.L1.TryInstallRead(ticket, new L1.L1Entry("k", [1], 1, ticket.Epoch, long.MaxValue)));
        Assert.Equal([1], await a.GetAsync("k"));
    }

    [Fact]
    public async Task AForeignChangeOfACopyInUse_IsNotFetched_AndIsForgottenBeforeAWriteLongAfter()
    {
        await using var fleet = new CacheeTestFleet(o => o.InvalidationAckTimeout = TimeSpan.FromSeconds(5));
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await b.GetAsync("k"));
        Assert.Equal([1], await b.GetAsync("k")); // in use on b

        // Another client changes it: b drops its copy and fetches nothing (no Cachee writer follows).
        fleet.Redis.SetFromOtherClient("k", [9]);
        Assert.False(b.L1.TryPeek("k", out _));

        // A second later the "in use" mark is forgotten: a Cachee write then finds no copy on b, and b fetches nothing.
        fleet.Time.Advance(TimeSpan.FromSeconds(2));
        _ = b.Coordinator.SweepExpired();
        _ = fleet.Redis.Get("k", b.InstanceId, register: true, refreshSliding: false, 0); // b is a holder again, with no copy
        await a.SetAsync("k", [2], new DistributedCacheEntryOptions());
        Assert.Equal([2], await b.GetAsync("k")); // a prefetch, had one started, would have run by the end of this read
        Assert.Equal(0, b.GetStatistics().Prefetches);
    }
}
