using Cachee.Sessions.Diagnostics;
using Cachee.Sessions.L2;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Cachee.Sessions.Tests;

/// <summary>What the guard around the L2 store counts as Redis being unreachable.</summary>
public sealed class GuardedL2StoreTests
{
    [Fact]
    public async Task WritesTooFewReplicasConfirmed_FailAsUnavailable_ButNeverOpenTheBreaker()
    {
        var time = new FakeTimeProvider();
        using var metrics = new CacheeMetrics(null, "test", countL1Hits: false);
        var breaker = new CircuitBreaker(threshold: 2, breakDuration: TimeSpan.FromSeconds(5), time);
        var guarded = new GuardedL2Store(new UnconfirmedWrites(), TimeSpan.FromSeconds(1), breaker, time, metrics, NullLogger.Instance);

        for (var i = 0; i < 5; i++)
        {
            var error = await Assert.ThrowsAsync<CacheUnavailableException>(
                () => guarded.SetAsync("k", [1], new EntryExpiration(EntryExpiration.None, EntryExpiration.None), -1, 0, sync: false, CancellationToken.None).AsTask());
            Assert.IsType<ReplicasNotConfirmedException>(error.InnerException);
        }

        // The master answered every time: reads still go to Redis rather than being refused by an open breaker.
        Assert.Null(await guarded.GetAsync("k", register: false, refreshSliding: false, 0, sync: false, CancellationToken.None));
        Assert.Equal(0, metrics.Snapshot().BreakerOpenings);
    }

    private sealed class UnconfirmedWrites : IL2Store
    {
        public ValueTask<L2Entry?> GetAsync(string key, bool register, bool refreshSliding, long nowTicks, bool sync, CancellationToken token) =>
            ValueTask.FromResult<L2Entry?>(null);

        public ValueTask<L2WriteResult> SetAsync(
            string key, byte[] value, EntryExpiration expiration, long ttlMilliseconds, long ackId, bool sync, CancellationToken token) =>
            ValueTask.FromException<L2WriteResult>(new ReplicasNotConfirmedException("0 of 1 replicas confirmed the write."));

        public ValueTask<L2WriteResult> RemoveAsync(string key, long ackId, bool sync, CancellationToken token) => throw new NotSupportedException();

        public ValueTask<L2WriteResult?> ReplayAsync(ReplayedWrite write, long ttlMilliseconds, bool sync, CancellationToken token) => throw new NotSupportedException();

        public ValueTask<Renewal> RefreshAsync(string key, long? expectedVersion, bool register, long nowTicks, bool sync, CancellationToken token) =>
            throw new NotSupportedException();
    }
}
