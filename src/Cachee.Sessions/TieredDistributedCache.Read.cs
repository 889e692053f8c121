using System.Buffers;
using System.Collections.Concurrent;
using Cachee.Sessions.Diagnostics;
using Cachee.Sessions.L1;
using Cachee.Sessions.L2;
using Cachee.Sessions.Threading;

namespace Cachee.Sessions;

// Reads: an L1 hit costs no I/O; a miss joins or starts one Redis read per key and installs what it found, unless it raced
// with a change. Refresh is a read that returns nothing. Arguments are checked at the top of each public method, once; one
// implementation serves sync and async (with sync = true every await completes synchronously).
public sealed partial class TieredDistributedCache
{
    private readonly ConcurrentDictionary<string, Task<byte[]?>> _fetches = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public byte[]? Get(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (_l1.TryServe(key, out var value))
        {
            _l1Hits?.Increment();
            return value;
        }

        return ReadCoreAsync(key, sync: true, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <inheritdoc/>
    public Task<byte[]?> GetAsync(string key, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        token.ThrowIfCancellationRequested();
        if (_l1.TryServeTask(key, out var hit))
        {
            _l1Hits?.Increment();
            return hit;
        }

        return ReadCoreAsync(key, sync: false, token).AsTask();
    }

    /// <inheritdoc/>
    public bool TryGet(string key, IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(destination);
        if (_l1.TryServe(key, out var value))
        {
            _l1Hits?.Increment();
            return CopyTo(value, destination);
        }

        return CopyTo(ReadCoreAsync(key, sync: true, CancellationToken.None).GetAwaiter().GetResult(), destination);
    }

    /// <inheritdoc/>
    public ValueTask<bool> TryGetAsync(string key, IBufferWriter<byte> destination, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(destination);
        token.ThrowIfCancellationRequested();
        if (_l1.TryServe(key, out var value))
        {
            _l1Hits?.Increment();
            return new(CopyTo(value, destination));
        }

        return ReadIntoAsync(key, destination, token);
    }

    /// <inheritdoc/>
    public void Refresh(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        RefreshCoreAsync(key, sync: true, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <inheritdoc/>
    public Task RefreshAsync(string key, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        token.ThrowIfCancellationRequested();
        return RefreshCoreAsync(key, sync: false, token).AsTask();
    }

    private static bool CopyTo(byte[]? value, IBufferWriter<byte> destination)
    {
        if (value is null)
        {
            return false;
        }

        destination.Write(value);
        return true;
    }

    private async ValueTask<bool> ReadIntoAsync(string key, IBufferWriter<byte> destination, CancellationToken token) =>
        CopyTo(await ReadCoreAsync(key, sync: false, token).ConfigureAwait(false), destination);

    /// <summary>
    /// An L1 miss: joins a fetch of the same key already under way on this instance (one Redis read however many requests
    /// miss at once), or fetches it. Fetches begun before an invalidation of the key are never joined after it.
    /// </summary>
    private async ValueTask<byte[]?> ReadCoreAsync(string key, bool sync, CancellationToken token)
    {
        _counters.L1Misses.Increment();
        Coordinator.EnsureStarted();
        if (_replay.Find(key) is { } queued)
        {
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
            _counters.StaleHits.Increment();
            Volatile.Write(ref _lastStaleServed, _time.GetTimestamp());
            Log.ServedStale(_logger, new RedactedKey(key), ex.Message);
            return stale;
        }
    }

    /// <summary>Reads a key from Redis and installs it in L1 unless the read raced with a change.</summary>
    private async ValueTask<byte[]?> FetchAsync(
        string key, bool refreshSliding, bool sync, CancellationToken token)
    {
        var now = _copies.Now();
        var ticket = _l1.BeginRead(key);
        var hold = Holds(ticket);
        L2Entry? found;
        try
        {
            // Registered as a holder only when the copy may be kept and pays: then every later change is sent here.
            found = await _l2.GetAsync(key, hold, refreshSliding, now.Utc, sync, token).ConfigureAwait(false);
        }
        catch (L2PayloadException ex)
        {
            _counters.UnreadablePayloads.Increment();
            _counters.L2Misses.Increment();
            Log.UnreadablePayload(_logger, new RedactedKey(key), ex.Message);
            return null;
        }

        if (found is not { } hit)
        {
            _counters.L2Misses.Increment();
            return null;
        }

        _counters.L2Hits.Increment();
        if (hold)
        {
            _holding.Held(ticket.Hash);
            _copies.InstallRead(ticket, hit, now);
        }
        else if (ticket.CanInstall)
        {
            _holding.ReadWithoutCopy(ticket.Hash, hit.Version);
            NoteRenewalCovered(ticket.Hash, hit, now);
        }

        return hit.Data;
    }

    /// <summary>
    /// After a read that kept no copy of a sliding entry: until when its expiry in Redis satisfies a <c>Refresh</c> (for an
    /// access at T, Redis expires the entry no earlier than T + window − tolerance, as for a renewal of an L1 hit). A change
    /// of the entry meanwhile sets a full window itself, from a later moment, so it keeps that true.
    /// </summary>
    private void NoteRenewalCovered(ulong hash, L2Entry entry, Moment now)
    {
        if (!entry.Expiration.HasSliding || entry.Ttl is not { IsKnown: true, IsNone: false } ttl)
        {
            return;
        }

        var windowTicks = entry.Expiration.SlidingTicks;
        var slack = (ttl.Milliseconds * TimeSpan.TicksPerMillisecond) - (windowTicks - EntryExpiration.ToleranceTicks(windowTicks, _slidingTolerance));
        if (slack > _l1.Clock.Margin)
        {
            _holding.NoteRenewalCovered(hash, now.L1 + slack - _l1.Clock.Margin);
        }
    }

    /// <summary>
    /// Reads <paramref name="key"/> from Redis, never from L1, with the version a guarded write may be
    /// based on (see <see cref="WriteManyAsync"/>): (null, 0) when there is no entry. Neither registers this instance as a holder nor installs a copy.
    /// </summary>
    internal async ValueTask<(byte[]? Data, long Version)> ReadFromRedisAsync(string key, bool sync, CancellationToken token)
    {
        Coordinator.EnsureStarted();
        var found = await _l2.GetAsync(key, register: false, refreshSliding: false, _copies.UtcNow(), sync, token).ConfigureAwait(false);
        return found is { } entry ? (entry.Data, entry.Version) : (null, 0);
    }

    private async ValueTask RefreshCoreAsync(string key, bool sync, CancellationToken token)
    {
        if (_l1.TryTouch(key))
        {
            // Held in L1: the Redis renewal, if due, is queued with the coordinator.
            return;
        }

        if (_holding.Enabled && _holding.RenewalCovered(L1Store.Hash(key), _l1.Clock.Now()))
        {
            // Read here lately (no copy kept) with an expiry that needs no renewal yet: the session middleware's Refresh
            // after its Get costs Redis nothing.
            return;
        }

        Coordinator.EnsureStarted();
        _ = await _l2.RefreshAsync(key, expectedVersion: null, register: false, _copies.UtcNow(), sync, token).ConfigureAwait(false);
    }
}
