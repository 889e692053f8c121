using Cachee.Sessions.Testing;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Tests;

/// <summary>An instance that held a key fetches its new value right after hearing it changed, before acknowledging.</summary>
public sealed class PrefetchTests
{
    [Fact]
    public async Task InvalidatedKeyHeldHere_IsFetchedBack_SoTheNextReadIsAnL1Hit()
    {
        await using var fleet = new CacheeTestFleet(o => o.InvalidationAckTimeout = TimeSpan.FromSeconds(5));
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        Assert.Equal([1], await b.GetAsync("k"));
        Assert.Equal([1], await b.GetAsync("k")); // hit since it was loaded: in use here

        await a.SetAsync("k", [2], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        await Eventually.TrueAsync(() => b.L1.TryPeek("k", out var copy) && copy.Version == 2, "b fetched the new value");
        var commands = fleet.Redis.Commands;
        var ttl = fleet.Redis.Pttl("k");

        Assert.Equal([2], await b.GetAsync("k"));
        Assert.Equal(commands, fleet.Redis.Commands);
        Assert.Equal((1L, 2L), (b.GetStatistics().Prefetches, b.GetStatistics().L1Hits));
        Assert.Equal(ttl, fleet.Redis.Pttl("k")); // the fetch did not count as an access (the fake clock did not move)
    }

    [Fact]
    public async Task CopyNotHitSinceItWasLoaded_IsDroppedNotFetched_AndItsHolderLeavesTheRegistry()
    {
        await using var fleet = new CacheeTestFleet(o => o.InvalidationAckTimeout = TimeSpan.FromSeconds(5));
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await b.GetAsync("k"));
        Assert.Equal(2, fleet.Redis.HolderCount("k"));

        await a.SetAsync("k", [2], new DistributedCacheEntryOptions());
        Assert.Equal(0, b.GetStatistics().Prefetches);
        Assert.False(b.L1.TryPeek("k", out _));
        Assert.Equal(1, fleet.Redis.HolderCount("k")); // the writer only

        // The next change is not sent to b at all.
        var heard = b.GetStatistics().InvalidationsReceived;
        await a.SetAsync("k", [3], new DistributedCacheEntryOptions());
        Assert.Equal(heard, b.GetStatistics().InvalidationsReceived);
        Assert.Equal([3], await b.GetAsync("k"));
    }

    [Fact]
    public async Task CopyOnlyRefreshedSinceItWasLoaded_IsNotFetched()
    {
        // The session middleware refreshes after every request: a Refresh keeps the copy alive but is no use of its value.
        await using var fleet = new CacheeTestFleet(o => o.InvalidationAckTimeout = TimeSpan.FromSeconds(5));
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await b.GetAsync("k"));
        await b.RefreshAsync("k");
        b.Refresh("k");

        await a.SetAsync("k", [2], new DistributedCacheEntryOptions());
        Assert.Equal([2], await b.GetAsync("k")); // a prefetch, had one started, would have run by the end of this read
        Assert.Equal(0, b.GetStatistics().Prefetches);
    }

    [Fact]
    public async Task ReadsDuringAFetch_JoinIt()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        var commands = fleet.Redis.Commands;
        var reads = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Task.Run(() => b.GetAsync("k"))));
        Assert.All(reads, value => Assert.Equal([1], value));
        Assert.InRange(fleet.Redis.Commands - commands, 1, 50); // usually 1; never more reads than requests
        Assert.Equal(fleet.Redis.Commands - commands, b.GetStatistics().L2Hits);
    }

    [Fact]
    public async Task BlockingReadsDuringAFetch_WaitForItAndShareItsRead()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        var commands = fleet.Redis.Commands;
        var pause = new TaskCompletionSource();
        fleet.Redis.PauseUntil(pause.Task);

        var first = b.GetAsync("k"); // the fetch, held by the paused server
        const int blocking = 8;
        var readers = Enumerable.Range(0, blocking).Select(_ => Task.Factory.StartNew(
            () => b.Get("k"), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        await Eventually.TrueAsync(() => b.GetStatistics().L1Misses == 1 + blocking, "every blocking read joined the fetch");
        Assert.All(readers, reader => Assert.False(reader.IsCompleted));

        pause.SetResult();
        Assert.Equal([1], await first);
        Assert.All(await Task.WhenAll(readers), value => Assert.Equal([1], value));
        Assert.Equal(1, fleet.Redis.Commands - commands);
    }

    [Fact]
    public async Task KeyNotHeldHere_IsNotFetched()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        await a.SetAsync("k", [2], new DistributedCacheEntryOptions());
        Assert.Equal(0, b.GetStatistics().Prefetches);
        Assert.Equal(0, b.GetStatistics().L1Entries);
    }

    [Fact]
    public async Task PrefetchOff_TheNextReadMisses()
    {
        await using var fleet = new CacheeTestFleet(o => o.PrefetchOnInvalidation = false);
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await b.GetAsync("k"));
        await a.SetAsync("k", [2], new DistributedCacheEntryOptions());
        Assert.Equal([2], await b.GetAsync("k"));
        Assert.Equal((0, 0L), (b.GetStatistics().Prefetches, b.GetStatistics().L1Hits));
    }

    [Fact]
    public async Task RemovedKey_IsNotBroughtBack()
    {
        await using var fleet = new CacheeTestFleet(o => o.InvalidationAckTimeout = TimeSpan.FromSeconds(5));
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await b.GetAsync("k"));
        await a.RemoveAsync("k");
        Assert.Equal(0, b.GetStatistics().L1Entries);
        Assert.Null(await b.GetAsync("k"));
    }
}
