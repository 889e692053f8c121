using Cachee.Sessions.Testing;
using Microsoft.Extensions.Caching.Distributed;
using StackExchange.Redis;

namespace Cachee.Sessions.Tests;

/// <summary>Redis paused or unreachable: bounded waits, the circuit breaker, stale-on-error, misses that never lie, writes.</summary>
public sealed class ResilienceTests
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };

    // Replay mode; the replay's next try comes one break duration (2 s) after a failed one.
    private static CacheeTestFleet ReplayFleet() => new(o =>
    {
        o.WriteFailureMode = WriteFailureMode.Replay;
        o.CircuitBreakerBreakDuration = TimeSpan.FromSeconds(2);
    });

    // The replay's next try comes a break (2 s) after its failed one. That failure may still be on its way when the clock
    // moves, and a retry timer set after a single move would wait for another: so the clock moves a break at a time (every
    // 100 ms of real time, so that it does not run far ahead) until the condition holds.
    private static Task RetryBreaksUntilAsync(CacheeTestFleet fleet, Func<bool> condition, string what)
    {
        var sinceMove = System.Diagnostics.Stopwatch.StartNew();
        fleet.Time.Advance(TimeSpan.FromSeconds(2));
        return Eventually.TrueAsync(
            () =>
            {
                if (sinceMove.ElapsedMilliseconds >= 100)
                {
                    fleet.Time.Advance(TimeSpan.FromSeconds(2));
                    sinceMove.Restart();
                }

                return condition();
            },
            what);
    }

    private static RedisConnectionException Unreachable() => new(ConnectionFailureType.UnableToConnect, "test: no connection");

    // A breaker that opens at the first failure and lets a probe through every 2 s.
    private static CacheeTestFleet OneFailureBreakerFleet() => new(o =>
    {
        o.CircuitBreakerFailureThreshold = 1;
        o.CircuitBreakerBreakDuration = TimeSpan.FromSeconds(2);
    });

    // An instance of such a fleet whose breaker has just opened: one call found Redis unreachable.
    private static async Task<TieredDistributedCache> OpenTheBreakerAsync(CacheeTestFleet fleet)
    {
        var a = await fleet.AddInstanceAsync();
        fleet.Redis.Fail(Unreachable());
        _ = await Assert.ThrowsAsync<CacheUnavailableException>(() => a.GetAsync("k"));
        return a;
    }

    [Fact]
    public async Task PausedRedis_AsyncMissThrowsAfterTheTimeout_NotNull()
    {
        await using var fleet = new CacheeTestFleet(o => o.L2OperationTimeout = TimeSpan.FromSeconds(1));
        var a = await fleet.AddInstanceAsync();
        var pause = new TaskCompletionSource();
        fleet.Redis.PauseUntil(pause.Task);

        var read = a.GetAsync("cold");
        fleet.Time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(read.IsCompleted);
        fleet.Time.Advance(TimeSpan.FromMilliseconds(1));
        var error = await Assert.ThrowsAsync<CacheUnavailableException>(() => read);
        Assert.Contains("within 00:00:01", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, a.GetStatistics().L2Failures);
        pause.SetResult();
    }

    [Fact]
    public async Task PausedRedis_SyncMissThrowsOnceTheTimeoutPasses()
    {
        await using var fleet = new CacheeTestFleet(o => o.L2OperationTimeout = TimeSpan.FromSeconds(1));
        var a = await fleet.AddInstanceAsync();
        var pause = new TaskCompletionSource();
        fleet.Redis.PauseUntil(pause.Task);

        var read = Task.Run(() => a.Get("cold"));
        await Eventually.TrueAsync(() =>
        {
            fleet.Time.Advance(TimeSpan.FromMilliseconds(100));
            return read.IsCompleted;
        }, "the blocking read gives up");
        _ = await Assert.ThrowsAsync<CacheUnavailableException>(() => read);
        pause.SetResult();
    }

    [Fact]
    public async Task PausedRedis_WarmReadsAreServedFromL1()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        await a.SetAsync("warm", [7], Sliding);
        var pause = new TaskCompletionSource();
        fleet.Redis.PauseUntil(pause.Task);

        for (var i = 0; i < 100; i++)
        {
            Assert.Equal([7], a.Get("warm"));
            Assert.Equal([7], await a.GetAsync("warm"));
            await a.RefreshAsync("warm");
        }

        Assert.Equal(200, a.GetStatistics().L1Hits);
        pause.SetResult();
    }

    [Fact]
    public async Task UnreachableRedisAndLostSubscription_WarmReadsServeTheStaleCopy_ColdReadsThrow()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        await a.SetAsync("warm", [7], Sliding);
        fleet.BusOf(a).Cut();
        fleet.Redis.Fail(Unreachable());

        Assert.Equal([7], await a.GetAsync("warm"));
        Assert.Equal([7], a.Get("warm"));
        _ = await Assert.ThrowsAsync<CacheUnavailableException>(() => a.GetAsync("cold"));
        _ = Assert.Throws<CacheUnavailableException>(() => a.Get("cold"));
        Assert.Equal(2, a.GetStatistics().StaleHits);
    }

    [Fact]
    public async Task CircuitBreaker_OpensAfterTheThreshold_FailsFast_ThenAProbeClosesIt()
    {
        await using var fleet = new CacheeTestFleet(o =>
        {
            o.CircuitBreakerFailureThreshold = 3;
            o.CircuitBreakerBreakDuration = TimeSpan.FromSeconds(2);
        });
        var a = await fleet.AddInstanceAsync();
        fleet.Redis.Fail(Unreachable());
        for (var i = 0; i < 3; i++)
        {
            _ = await Assert.ThrowsAsync<CacheUnavailableException>(() => a.GetAsync($"k{i}"));
        }

        var commands = fleet.Redis.Commands;
        var fast = await Assert.ThrowsAsync<CacheUnavailableException>(() => a.GetAsync("k"));
        Assert.Contains("circuit breaker", fast.Message, StringComparison.Ordinal);
        Assert.Equal(commands, fleet.Redis.Commands); // not sent
        Assert.Equal(1, a.GetStatistics().BreakerOpenings);

        fleet.Redis.Recover();
        fleet.Time.Advance(TimeSpan.FromMilliseconds(1999));
        _ = await Assert.ThrowsAsync<CacheUnavailableException>(() => a.GetAsync("k"));
        fleet.Time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Null(await a.GetAsync("k")); // the probe: Redis answers "no such entry", which may now be believed
        Assert.Null(await a.GetAsync("k2"));
        Assert.Equal(commands + 2, fleet.Redis.Commands);
    }

    [Fact]
    public async Task CircuitBreaker_AFailedProbeOpensItForAnotherBreak()
    {
        await using var fleet = OneFailureBreakerFleet();
        var a = await OpenTheBreakerAsync(fleet);
        fleet.Time.Advance(TimeSpan.FromSeconds(2));
        var commands = fleet.Redis.Commands;
        _ = await Assert.ThrowsAsync<CacheUnavailableException>(() => a.GetAsync("k")); // the probe fails
        Assert.Equal(commands + 1, fleet.Redis.Commands);
        fleet.Redis.Recover();
        fleet.Time.Advance(TimeSpan.FromSeconds(1));
        _ = await Assert.ThrowsAsync<CacheUnavailableException>(() => a.GetAsync("k")); // still open
        fleet.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(await a.GetAsync("k"));
    }

    [Fact]
    public async Task CircuitBreaker_AProbeAnsweredWithAnError_ClosesIt()
    {
        await using var fleet = OneFailureBreakerFleet();
        var a = await OpenTheBreakerAsync(fleet);
        fleet.Time.Advance(TimeSpan.FromSeconds(2));
        fleet.Redis.Fail(new RedisServerException("ERR test: an error reply"));
        _ = await Assert.ThrowsAsync<RedisServerException>(() => a.GetAsync("k")); // the probe: Redis answered
        fleet.Redis.Recover();
        Assert.Null(await a.GetAsync("k")); // closed: no further break to wait out
    }

    [Fact]
    public async Task CircuitBreaker_AProbeItsCallerCancelled_LetsTheNextCallProbe()
    {
        await using var fleet = OneFailureBreakerFleet();
        var a = await OpenTheBreakerAsync(fleet);
        fleet.Redis.Recover();
        fleet.Time.Advance(TimeSpan.FromSeconds(2));
        var pause = new TaskCompletionSource();
        fleet.Redis.PauseUntil(pause.Task);
        using var cancel = new CancellationTokenSource();
        var probe = a.GetAsync("k", cancel.Token);
        await cancel.CancelAsync();
        _ = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => probe);
        pause.SetResult();
        fleet.Redis.PauseUntil(Task.CompletedTask);
        Assert.Null(await a.GetAsync("k")); // the next call probes, and Redis answers
    }

    [Fact]
    public async Task ThrowMode_AFailedWriteThrowsAndChangesNothing()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], Sliding);
        Assert.Equal([1], await b.GetAsync("k"));

        fleet.Redis.Fail(Unreachable());
        _ = await Assert.ThrowsAsync<CacheUnavailableException>(() => a.SetAsync("k", [2], Sliding));
        _ = Assert.Throws<CacheUnavailableException>(() => a.Set("k", [2], Sliding));
        _ = await Assert.ThrowsAsync<CacheUnavailableException>(() => a.RemoveAsync("k"));
        fleet.Redis.Recover();

        Assert.Equal([1], await a.GetAsync("k"));
        Assert.Equal([1], await b.GetAsync("k"));
    }

    [Fact]
    public async Task ReplayMode_AnAcceptedWriteIsServedHere_ThenReachesRedisAndTheOtherInstances()
    {
        await using var fleet = ReplayFleet();
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], Sliding);
        Assert.Equal([1], await b.GetAsync("k"));

        fleet.Redis.Fail(Unreachable());
        await a.SetAsync("k", [2], Sliding); // accepted
        Assert.Equal([2], await a.GetAsync("k"));
        Assert.Equal(1, a.GetStatistics().ReplayPending);

        fleet.Redis.Recover();
        await RetryBreaksUntilAsync(fleet, () => a.GetStatistics().ReplayApplied == 1, "the queued write is replayed");
        Assert.Equal(0, a.GetStatistics().ReplayPending);
        Assert.Equal([2], await b.GetAsync("k"));
        Assert.Equal([2], await a.GetAsync("k"));
    }

    [Fact]
    public async Task ReplayMode_NewerDataInRedisIsNeverOverwritten()
    {
        await using var fleet = ReplayFleet();
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("k", [1], Sliding);

        fleet.Redis.Fail(Unreachable());
        await a.SetAsync("k", [2], Sliding); // queued on top of version 1
        fleet.Redis.Recover();
        await b.SetAsync("k", [3], Sliding); // newer, written while a's write waited

        await RetryBreaksUntilAsync(fleet, () => a.GetStatistics().ReplaySuperseded == 1, "the queued write is dropped");
        Assert.Equal(0, a.GetStatistics().ReplayApplied);
        Assert.Equal([3], await b.GetAsync("k"));
        Assert.Equal([3], await a.GetAsync("k"));
    }

    [Fact]
    public async Task ReplayMode_AFullQueueRefusesTheWrite()
    {
        await using var fleet = new CacheeTestFleet(o =>
        {
            o.WriteFailureMode = WriteFailureMode.Replay;
            o.ReplayQueueCapacity = 1;
        });
        var a = await fleet.AddInstanceAsync();
        fleet.Redis.Fail(Unreachable());
        await a.SetAsync("one", [1], Sliding);
        await a.SetAsync("one", [2], Sliding); // the same key takes no second place
        _ = await Assert.ThrowsAsync<CacheUnavailableException>(() => a.SetAsync("two", [1], Sliding));
        Assert.Equal(1, a.GetStatistics().ReplayPending);
        Assert.Equal([2], await a.GetAsync("one"));
    }

    [Fact]
    public async Task ConcurrentColdReadsOfOneKey_CauseOneRedisRead()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        var writer = await fleet.AddInstanceAsync();
        await writer.SetAsync("k", [9], Sliding);
        var pause = new TaskCompletionSource();
        fleet.Redis.PauseUntil(pause.Task);
        var commands = fleet.Redis.Commands;

        var reads = Enumerable.Range(0, 100).Select(_ => Task.Run(() => a.GetAsync("k"))).ToArray();
        await Eventually.TrueAsync(() => a.GetStatistics().L1Misses == 100, "all 100 reads missed L1");
        pause.SetResult();
        foreach (var value in await Task.WhenAll(reads))
        {
            Assert.Equal([9], value);
        }

        Assert.Equal(commands + 1, fleet.Redis.Commands);
    }
}
