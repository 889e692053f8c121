using Cachee.Sessions.Invalidation;
using Cachee.Sessions.Testing;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Tests;

/// <summary>A write returns once the other instances have dropped their copies, within a bounded wait.</summary>
public sealed class AcknowledgementTests
{
    [Fact]
    public async Task Write_IsAcknowledgedByEveryOtherInstance()
    {
        // A generous bound: the acknowledgements must come, however busy the test machine's thread pool is.
        await using var fleet = new CacheeTestFleet(o => o.InvalidationAckTimeout = TimeSpan.FromSeconds(5));
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        var c = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.NotNull(await b.GetAsync("k"));
        Assert.NotNull(await c.GetAsync("k"));

        a.Set("k", [2], new DistributedCacheEntryOptions());
        await a.RemoveAsync("k");

        Assert.Equal(0, a.GetStatistics().AckTimeouts);
        Assert.Null(await b.GetAsync("k"));
        Assert.Null(await c.GetAsync("k"));
    }

    [Fact]
    public async Task SubscriberThatNeverAcknowledges_CostsOneBoundedWait_AndTheWriteStands()
    {
        await using var fleet = new CacheeTestFleet(o => o.InvalidationAckTimeout = TimeSpan.FromMilliseconds(20));
        var a = await fleet.AddInstanceAsync();
        using var silent = new InMemoryInvalidationBus(fleet.Redis.Hub, "silent");
        await silent.StartAsync(new DeafListener(), CancellationToken.None);

        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        _ = fleet.Redis.Get("k", "silent", register: true, refreshSliding: false, 0); // a holder
        await a.SetAsync("k", [2], new DistributedCacheEntryOptions());
        _ = fleet.Redis.Get("k", "silent", register: true, refreshSliding: false, 0);
        a.Remove("k");

        Assert.Equal(2, a.GetStatistics().AckTimeouts);
        Assert.Null(await a.GetAsync("k"));
    }

    [Fact]
    public async Task AcknowledgementsOff_NoneAreAskedFor()
    {
        await using var fleet = new CacheeTestFleet(o => o.InvalidationAckTimeout = TimeSpan.Zero);
        var a = await fleet.AddInstanceAsync();
        using var silent = new InMemoryInvalidationBus(fleet.Redis.Hub, "silent");
        var listener = new DeafListener();
        await silent.StartAsync(listener, CancellationToken.None);
        _ = fleet.Redis.Get("k", "silent", register: true, refreshSliding: false, 0); // a holder (of no entry yet)
        await a.SetAsync("k", [0], new DistributedCacheEntryOptions());
        _ = fleet.Redis.Get("k", "silent", register: true, refreshSliding: false, 0);

        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal(0, a.GetStatistics().AckTimeouts);
        Assert.Equal(0, Assert.Single(listener.Heard, message => message.Kind == MessageKind.Invalidation).AckId);
    }

    [Fact]
    public async Task InstanceThatLostItsSubscription_IsNotWaitedFor()
    {
        await using var fleet = new CacheeTestFleet(o => o.InvalidationAckTimeout = TimeSpan.FromSeconds(5));
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        fleet.BusOf(b).Cut();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal(0, a.GetStatistics().AckTimeouts);
    }

    private sealed class DeafListener : IInvalidationListener
    {
        public void OnCoherenceUnavailable(string reason)
        {
        }

        public void OnAllRevoked()
        {
        }

        public void OnShardLost(Func<string, bool> servedByIt)
        {
        }

        public void OnShardProven()
        {
        }

        public void OnRevocationUnavailable(string reason)
        {
        }

        public List<ParsedMessage> Heard { get; } = [];

        public void OnMessage(in ParsedMessage message) => Heard.Add(message);

        public void OnSubscriptionEstablished()
        {
        }

        public void OnSubscriptionLost()
        {
        }
    }

    [Fact]
    public async Task SameInstanceAcknowledgingTwice_CountsOnce()
    {
        var tracker = new AckTracker();
        using var waiter = tracker.Register();
        tracker.Acknowledge(waiter.Id, "b");
        tracker.Acknowledge(waiter.Id, "b");
        Assert.False(await waiter.WaitAsync(2, TimeSpan.FromMilliseconds(10), sync: false));
        tracker.Acknowledge(waiter.Id, "c");
        Assert.True(await waiter.WaitAsync(2, TimeSpan.FromSeconds(5), sync: false));
    }
}
