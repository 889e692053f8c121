using System.Collections.Concurrent;
using Cachee.Sessions.Invalidation;
using Cachee.Sessions.L1;
using Cachee.Sessions.L2;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions;

// The one implementation behind the sync and async APIs: with sync = true every await completes synchronously.
public sealed partial class TieredDistributedCache
{
    private readonly ConcurrentDictionary<string, Task<byte[]?>> _fetches = new(StringComparer.Ordinal);

    /// <summary>
    /// An L1 miss: joins a fetch of the same key already under way on this instance (one Redis read however many requests
    /// miss at once), or fetches it. Fetches begun before an invalidation of the key are never joined after it.
    /// </summary>
    private async ValueTask<byte[]?> ReadCoreAsync(string key, bool sync, CancellationToken token)
    {
        _metrics.L1Misses.Increment();
        Coordinator.EnsureStarted();
        if (_replay?.Find(key) is { } queued)
        {
            // This instance's own write, accepted while Redis was unreachable and not replayed yet, is the newest it knows.
            return queued.Value;
        }

        while (true)
        {
            if (_fetches.TryGetValue(key, out var running))
            {
                if (sync)
                {
                    _ = BlockingWait.Until(running, Timeout.InfiniteTimeSpan); // bounded: the fetch has the operation timeout
                    return running.GetAwaiter().GetResult();
                }

                return await running.WaitAsync(token).ConfigureAwait(false);
            }

            var fetch = new TaskCompletionSource<byte[]?>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_fetches.TryAdd(key, fetch.Task))
            {
                continue;
            }

            try
            {
                var data = await FetchOrStaleAsync(key, sync, token).ConfigureAwait(false);
                fetch.SetResult(data);
                return data;
            }
            catch (Exception ex)
            {
                fetch.SetException(ex);
                _ = fetch.Task.Exception; // observed here; joiners see it too
                throw;
            }
            finally
            {
                _ = _fetches.TryRemove(KeyValuePair.Create(key, fetch.Task));
            }
        }
    }

    /// <summary>
    /// Fetches from Redis; when Redis cannot be asked, answers with the L1 copy if there is one (stale-on-error: served even
    /// though no invalidation may have been heard for it, and counted), and otherwise lets <see cref="CacheUnavailableException"/>
    /// through: a miss never claims absence when Redis could not be asked.
    /// </summary>
    private async ValueTask<byte[]?> FetchOrStaleAsync(string key, bool sync, CancellationToken token)
    {
        try
        {
            return await FetchAsync(key, refreshSliding: true, sync, token).ConfigureAwait(false);
        }
        catch (CacheUnavailableException ex) when (_l1.TryGetStale(key, _l1.Clock.Now()) is { } stale)
        {
            _metrics.StaleHits.Increment();
            Log.ServedStale(_logger, key, ex.Message);
            return stale;
        }
    }

    /// <summary>Reads a key from Redis and installs it in L1 unless the read raced with a change.</summary>
    private async ValueTask<byte[]?> FetchAsync(
        string key, bool refreshSliding, bool sync, CancellationToken token, Acknowledgement? acknowledge = null)
    {
        var now = Now();
        var ticket = _l1.BeginRead(key);
        L2Entry? found;
        try
        {
            found = await _l2.GetAsync(key, refreshSliding, now.Utc, sync, token, acknowledge).ConfigureAwait(false);
        }
        catch (L2PayloadException ex)
        {
            _metrics.UnreadablePayloads.Increment();
            _metrics.L2Misses.Increment();
            Log.UnreadablePayload(_logger, key, ex.Message);
            return null;
        }

        if (found is not { } hit)
        {
            _metrics.L2Misses.Increment();
            return null;
        }

        _metrics.L2Hits.Increment();
        if (ticket.CanInstall && hit.Data.Length <= _l1.MaxEntryBytes
            && NewEntry(key, hit.Data, hit.Version, ticket.Epoch, hit.Expiration, hit.TtlMilliseconds, now) is { } entry)
        {
            _ = _l1.TryInstallRead(ticket, entry);
        }

        return hit.Data;
    }

    /// <summary>
    /// Called by the coordinator when another instance changed <paramref name="key"/>: fetches begun before the change may no
    /// longer be joined, and a key this instance held is fetched again at once (when prefetching is on), registered as the
    /// fetch to join, so that the user's next request here finds the new value without a blocking Redis read of its own.
    /// </summary>
    /// <returns>True when the prefetch took the writer's acknowledgement over (it publishes it with its read).</returns>
    private bool OnInvalidated(string key, bool hadCopy, Acknowledgement? ack)
    {
        _ = _fetches.TryRemove(key, out _);
        if (!hadCopy || !_prefetch)
        {
            return false;
        }

        var fetch = new TaskCompletionSource<byte[]?>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_fetches.TryAdd(key, fetch.Task))
        {
            return false;
        }

        _ = PrefetchAsync(key, fetch, ack);
        return true;
    }

    // A prefetch is not an access: it does not renew a sliding entry in Redis.
    private async Task PrefetchAsync(string key, TaskCompletionSource<byte[]?> fetch, Acknowledgement? ack)
    {
        try
        {
            await Task.Yield(); // off the message loop before touching Redis
            _metrics.Prefetches.Increment();
            fetch.SetResult(await FetchAsync(key, refreshSliding: false, sync: false, CancellationToken.None, ack).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            Log.PrefetchFailed(_logger, key, ex);
            fetch.SetException(ex);
            _ = fetch.Task.Exception;
            if (ack is { } pending)
            {
                Coordinator.Acknowledge(pending); // the copy is gone all the same
            }
        }
        finally
        {
            _ = _fetches.TryRemove(KeyValuePair.Create(key, fetch.Task));
        }
    }

    private async ValueTask WriteCoreAsync(string key, byte[] value, DistributedCacheEntryOptions options, bool sync, CancellationToken token)
    {
        var now = Now();
        var expiration = EntryExpiration.FromOptions(options, now.Utc);
        var ttl = expiration.TtlMilliseconds(now.Utc);
        Coordinator.EnsureStarted();
        var knownVersion = _l1.TryPeek(key, out var known) ? known.Version : 0;
        var ticket = _l1.BeginWrite(key);
        using var ack = _ackTimeout > TimeSpan.Zero ? Coordinator.Acks.Register() : null;
        L2WriteResult written;
        try
        {
            written = await _l2.SetAsync(key, value, expiration, ttl, ack?.Id ?? 0, sync, token).ConfigureAwait(false);
        }
        catch (CacheUnavailableException) when (_replay is not null && QueueForReplay(key, value, expiration, knownVersion, ticket, ttl, now))
        {
            return;
        }
        catch
        {
            // Not applied (a late arrival is rejected by its deadline): no L1 copy survives, the next read asks Redis.
            _ = _l1.CompleteWrite(ticket, null);
            throw;
        }

        _replay?.Forget(key);
        _metrics.InvalidationsSent.Increment();
        var entry = ticket.CanInstall && value.Length <= _l1.MaxEntryBytes
            ? NewEntry(key, value, written.Version, ticket.Epoch, expiration, ttl, now)
            : null;
        _ = _l1.CompleteWrite(ticket, entry);
        await AwaitAcknowledgementsAsync(key, ack, written, sync).ConfigureAwait(false);
    }

    private async ValueTask RemoveCoreAsync(string key, bool sync, CancellationToken token)
    {
        Coordinator.EnsureStarted();
        var ticket = _l1.BeginWrite(key);
        using var ack = _ackTimeout > TimeSpan.Zero ? Coordinator.Acks.Register() : null;
        L2WriteResult removed;
        try
        {
            removed = await _l2.RemoveAsync(key, ack?.Id ?? 0, sync, token).ConfigureAwait(false);
            _replay?.Forget(key);
            _metrics.InvalidationsSent.Increment();
        }
        finally
        {
            _ = _l1.CompleteWrite(ticket, null);
        }

        await AwaitAcknowledgementsAsync(key, ack, removed, sync).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits, within <see cref="CacheeOptions.InvalidationAckTimeout"/>, until every other instance that heard the invalidation
    /// has dropped its copy, so that the caller's next request reads this change wherever it lands.
    /// </summary>
    private async ValueTask AwaitAcknowledgementsAsync(string key, AckTracker.Waiter? ack, L2WriteResult result, bool sync)
    {
        var others = result.Receivers - (Coordinator.IsSubscribed ? 1 : 0);
        if (ack is null || others <= 0)
        {
            return;
        }

        if (!await ack.WaitAsync((int)Math.Min(others, int.MaxValue), _ackTimeout, sync).ConfigureAwait(false))
        {
            _metrics.AckTimeouts.Increment();
            Log.AckTimeout(_logger, key, others, _ackTimeout);
        }
    }

    private async ValueTask RefreshCoreAsync(string key, bool sync, CancellationToken token)
    {
        if (_l1.TryServe(key, out _))
        {
            // Served from L1: the Redis renewal, if due, is queued with the coordinator.
            return;
        }

        Coordinator.EnsureStarted();
        _ = await _l2.RefreshAsync(key, expectedVersion: -1, NowTicks(), sync, token).ConfigureAwait(false);
    }

    /// <summary>
    /// Builds an L1 copy valid until the earlier of its absolute expiration and Redis' expiry (both known at
    /// <paramref name="now"/>, taken before Redis was asked); null if already expired. A sliding copy asks for its renewal a
    /// window less the tolerance before its end, unless the absolute expiration caps it.
    /// </summary>
    private L1Entry? NewEntry(string key, byte[] value, long version, int epoch, EntryExpiration expiration, long ttlMilliseconds, Moment now)
    {
        if (ttlMilliseconds < -1)
        {
            return null; // Redis' expiry of this value is not known (a write came between the read and its touch)
        }

        var absolute = expiration.HasAbsolute ? expiration.AbsoluteTicks : long.MaxValue;
        var redisExpiry = ttlMilliseconds < 0 ? long.MaxValue : now.Utc + (ttlMilliseconds * TimeSpan.TicksPerMillisecond);
        var validUntil = _l1.Clock.ValidUntil(Math.Min(absolute, redisExpiry), now.Utc, now.L1);
        if (validUntil <= now.L1)
        {
            return null;
        }

        var sliding = expiration.HasSliding ? expiration.SlidingTicks : 0;
        var lead = sliding > 0 && redisExpiry < absolute ? sliding - ToleranceFor(sliding) + _l1.Clock.Margin : 0;
        return new L1Entry(key, value, version, epoch, validUntil, lead);
    }

    private long ToleranceFor(long slidingTicks) => EntryExpiration.ToleranceTicks(slidingTicks, _tolerance);

    private long NowTicks() => _time.GetUtcNow().UtcTicks;

    /// <summary>Now on both clocks, read together: UTC (for Redis) and L1's.</summary>
    private Moment Now() => new(NowTicks(), _l1.Clock.Now());

    private readonly record struct Moment(long Utc, long L1);
}
