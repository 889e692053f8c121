namespace Cachee.Sessions;

// What the health check (AddCacheeHealthCheck) reads: the state of the subscription, the breakers, the replay queue and
// stale serving, and a ping of Redis.
public sealed partial class TieredDistributedCache
{
    private long _lastStaleServed; // timestamp of the last stale copy served; 0: never

    /// <summary>The state that decides this cache's health, now.</summary>
    internal CacheeHealthState GetHealthState()
    {
        var staleServed = Volatile.Read(ref _lastStaleServed);
        return new CacheeHealthState(
            Coordinator.IsSubscribed, Coordinator.UnsubscribedFor, Coordinator.IsCoherenceUnavailable, _breakers.Worst(), _replay.Count,
            staleServed == 0 ? null : _time.GetElapsedTime(staleServed));
    }

    /// <summary>
    /// How long Redis took to answer a <c>PING</c> on this cache's connection, bounded by the operation timeout (which throws
    /// <see cref="TimeoutException"/>); zero for a cache whose tiers are not on Redis (tests).
    /// </summary>
    internal async Task<TimeSpan> PingAsync(CancellationToken token)
    {
        if (_connection is null)
        {
            return TimeSpan.Zero;
        }

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(token);
        limit.CancelAfter(_operationTimeout);
        try
        {
            var multiplexer = await _connection.GetAsync(sync: false, limit.Token).ConfigureAwait(false);
            return await multiplexer.GetDatabase().PingAsync().WaitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            throw new TimeoutException($"Redis did not answer PING within {_operationTimeout}.");
        }
    }
}
