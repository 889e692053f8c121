using System.Net;
using Cachee.Sessions.Diagnostics;
using Cachee.Sessions.L2;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Cachee.Sessions.Tests;

/// <summary>What the guard around the L2 store counts as Redis being unreachable.</summary>
public sealed class GuardedL2StoreTests
{
    [Theory]
    [InlineData("MOVED 1234 127.0.0.1:7001", true)]
    [InlineData("Key has MOVED but CommandFlags.NoRedirect was specified - redirect not followed.", true)]
    [InlineData("TRYAGAIN Multiple keys request during rehashing of slot", true)]
    [InlineData("WRONGTYPE Operation against a key holding the wrong kind of value", false)]
    [InlineData("NOPERM this user has no permissions to run the 'evalsha' command", false)]
    public void ServerErrors_ThatMeanTheCommandDidNotRunWhereTheKeyIs_AreUnavailability(string message, bool unavailable) =>
        Assert.Equal(unavailable, GuardedL2Store.IsUnavailability(new StackExchange.Redis.RedisServerException(message)));

    [Fact]
    public async Task WritesTooFewReplicasConfirmed_FailAsUnavailable_ButNeverOpenTheBreaker()
    {
        var time = new FakeTimeProvider();
        var metrics = new CacheeCounters(countL1Hits: false);
        var breakers = new CircuitBreakers(threshold: 2, breakDuration: TimeSpan.FromSeconds(5), time, SingleNodeTopology.Instance);
        var guarded = new GuardedL2Store(new UnconfirmedWrites(), TimeSpan.FromSeconds(1), breakers, time, metrics, NullLogger.Instance);

        for (var i = 0; i < 5; i++)
        {
            var error = await Assert.ThrowsAsync<CacheUnavailableException>(
                () => guarded.SetAsync("k", [1], new EntryExpiration(EntryExpiration.None, EntryExpiration.None), -1, 0, hold: true, sync: false, CancellationToken.None).AsTask());
            Assert.IsType<ReplicasNotConfirmedException>(error.InnerException);
        }

        // The master answered every time: reads still go to Redis rather than being refused by an open breaker.
        Assert.Null(await guarded.GetAsync("k", register: false, refreshSliding: false, 0, sync: false, CancellationToken.None));
        Assert.Equal(0, metrics.BreakerOpenings.Value);
    }

    [Fact]
    public async Task OnACluster_ANodeThatFails_OpensItsOwnKeysBreakerOnly()
    {
        var time = new FakeTimeProvider();
        var metrics = new CacheeCounters(countL1Hits: false);
        var deadKeysNode = new DnsEndPoint("node-a", 6379);
        var breakers = new CircuitBreakers(
            threshold: 2, breakDuration: TimeSpan.FromSeconds(5), time, new TwoNodes(key => key.StartsWith("dead", StringComparison.Ordinal) ? deadKeysNode : new DnsEndPoint("node-b", 6379)));
        var guarded = new GuardedL2Store(new TimeoutForKey("dead-key"), TimeSpan.FromSeconds(1), breakers, time, metrics, NullLogger.Instance);

        for (var i = 0; i < 2; i++)
        {
            var timedOut = await Assert.ThrowsAsync<CacheUnavailableException>(() => Read(guarded, "dead-key").AsTask());
            Assert.DoesNotContain("circuit breaker", timedOut.Message, StringComparison.Ordinal);
        }

        Assert.Equal(1, metrics.BreakerOpenings.Value);

        // Node a's keys are refused at once by its open breaker; node b's keys go on.
        var refused = await Assert.ThrowsAsync<CacheUnavailableException>(() => Read(guarded, "dead-other").AsTask());
        Assert.Contains("circuit breaker", refused.Message, StringComparison.Ordinal);
        Assert.Null(await Read(guarded, "live-key"));

        // Once those keys are served by another node (a failover promoted its replica), they have that node's breaker.
        deadKeysNode = new DnsEndPoint("node-c", 6379);
        Assert.Null(await Read(guarded, "dead-other"));
    }

    private static ValueTask<L2Entry?> Read(GuardedL2Store store, string key) =>
        store.GetAsync(key, register: false, refreshSliding: false, 0, sync: false, CancellationToken.None);

    // One key times out (its node is gone); the others are absent.
    private sealed class TimeoutForKey(string timingOut) : IL2Store
    {
        public ValueTask<L2Entry?> GetAsync(string key, bool register, bool refreshSliding, long nowTicks, bool sync, CancellationToken token) =>
            key == timingOut ? ValueTask.FromException<L2Entry?>(new TimeoutException("no answer")) : ValueTask.FromResult<L2Entry?>(null);

        public ValueTask<L2WriteResult> SetAsync(
            string key, byte[] value, EntryExpiration expiration, long ttlMilliseconds, long ackId, bool hold, bool sync, CancellationToken token) => throw new NotSupportedException();

        public ValueTask<L2WriteResult> RemoveAsync(string key, long ackId, bool sync, CancellationToken token) => throw new NotSupportedException();

        public ValueTask<L2WriteResult?> ReplayAsync(ReplayedWrite write, long ttlMilliseconds, bool sync, CancellationToken token) => throw new NotSupportedException();

        public ValueTask<L2WriteResult[]?> WriteManyAsync(IReadOnlyList<KeyChange> changes, VersionGuard? guard, long ackId, bool sync, CancellationToken token) =>
            throw new NotSupportedException();

        public ValueTask<Renewal> RefreshAsync(string key, long? expectedVersion, bool register, long nowTicks, bool sync, CancellationToken token) =>
            throw new NotSupportedException();
    }

    private sealed class UnconfirmedWrites : IL2Store
    {
        public ValueTask<L2Entry?> GetAsync(string key, bool register, bool refreshSliding, long nowTicks, bool sync, CancellationToken token) =>
            ValueTask.FromResult<L2Entry?>(null);

        public ValueTask<L2WriteResult> SetAsync(
            string key, byte[] value, EntryExpiration expiration, long ttlMilliseconds, long ackId, bool hold, bool sync, CancellationToken token) =>
            ValueTask.FromException<L2WriteResult>(new ReplicasNotConfirmedException("0 of 1 replicas confirmed the write."));

        public ValueTask<L2WriteResult> RemoveAsync(string key, long ackId, bool sync, CancellationToken token) => throw new NotSupportedException();

        public ValueTask<L2WriteResult?> ReplayAsync(ReplayedWrite write, long ttlMilliseconds, bool sync, CancellationToken token) => throw new NotSupportedException();

        public ValueTask<L2WriteResult[]?> WriteManyAsync(IReadOnlyList<KeyChange> changes, VersionGuard? guard, long ackId, bool sync, CancellationToken token) =>
            throw new NotSupportedException();

        public ValueTask<Renewal> RefreshAsync(string key, long? expectedVersion, bool register, long nowTicks, bool sync, CancellationToken token) =>
            throw new NotSupportedException();
    }

    private sealed class TwoNodes(Func<string, EndPoint> nodeOf) : IKeyTopology
    {
        public EndPoint? NodeOf(string key) => nodeOf(key);

        public bool CanHold(string key) => true;

        public void LayoutMayHaveChanged()
        {
        }
    }
}
