using System.Buffers;
using Cachee.Sessions.Diagnostics;
using Cachee.Sessions.Invalidation;
using Cachee.Sessions.L2;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions;

// Writes and removes: one script in Redis changes the entry and sends its invalidation to the key's holders; L1 then keeps
// the new copy (or none), and the writer waits, within the acknowledgement timeout, until every holder dropped its old copy.
public sealed partial class TieredDistributedCache
{
    /// <inheritdoc/>
    public void Set(string key, byte[] value, DistributedCacheEntryOptions options)
    {
        ValidateSet(key, value, options);
        WriteCoreAsync(key, value, options, sync: true, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <inheritdoc/>
    public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        ValidateSet(key, value, options);
        token.ThrowIfCancellationRequested();
        return WriteCoreAsync(key, value, options, sync: false, token).AsTask();
    }

    /// <inheritdoc/>
    public void Set(string key, ReadOnlySequence<byte> value, DistributedCacheEntryOptions options)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(options);
        WriteCoreAsync(key, value.ToArray(), options, sync: true, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <inheritdoc/>
    public ValueTask SetAsync(string key, ReadOnlySequence<byte> value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(options);
        token.ThrowIfCancellationRequested();
        return WriteCoreAsync(key, value.ToArray(), options, sync: false, token);
    }

    /// <inheritdoc/>
    public void Remove(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        RemoveCoreAsync(key, sync: true, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <inheritdoc/>
    public Task RemoveAsync(string key, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        token.ThrowIfCancellationRequested();
        return RemoveCoreAsync(key, sync: false, token).AsTask();
    }

    private static void ValidateSet(string key, byte[] value, DistributedCacheEntryOptions options)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(options);
    }

    private async ValueTask WriteCoreAsync(string key, byte[] value, DistributedCacheEntryOptions options, bool sync, CancellationToken token)
    {
        var now = _copies.Now();
        var expiration = EntryExpiration.FromOptions(options, now.Utc);
        var ttl = expiration.TtlMilliseconds(now.Utc);
        Coordinator.EnsureStarted();
        var knownVersion = _l1.TryPeek(key, out var known) ? known.Version : 0;
        var ticket = _l1.BeginWrite(key);
        using var ack = AsksForAcknowledgements ? Coordinator.Acks.Register() : null;
        L2WriteResult written;
        try
        {
            written = await _l2.SetAsync(key, value, expiration, ttl, ack?.Id ?? 0, sync, token).ConfigureAwait(false);
        }
        catch (CacheUnavailableException) when (_replay.TryAccept(key, value, expiration, knownVersion, ticket, ttl, now))
        {
            return;
        }
        catch
        {
            // Not applied (a late arrival is rejected by its deadline): no L1 copy survives, the next read asks Redis.
            _copies.CompleteWithoutCopy(ticket);
            throw;
        }

        _replay.Forget(key);
        _counters.InvalidationsSent.Increment();
        _copies.CompleteWrite(ticket, written.KeepCopy ? value : null, written.Version, expiration, ttl, now);
        await AwaitAcknowledgementsAsync(key, ack, written, sync).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes <paramref name="key"/> only if Redis still holds it at <paramref name="baseVersion"/> (0: no entry), with every
    /// guarantee of a write (holders told and waited for); false, changing nothing, when Redis holds another version. Read
    /// the version with <see cref="ReadFromRedisAsync"/>. Redis must answer: such a write is never queued for replay.
    /// </summary>
    internal async ValueTask<bool> SetIfVersionAsync(
        string key, byte[] value, DistributedCacheEntryOptions options, long baseVersion, bool sync, CancellationToken token)
    {
        var now = _copies.Now();
        var expiration = EntryExpiration.FromOptions(options, now.Utc);
        var ttl = expiration.TtlMilliseconds(now.Utc);
        Coordinator.EnsureStarted();
        var ticket = _l1.BeginWrite(key);
        using var ack = AsksForAcknowledgements ? Coordinator.Acks.Register() : null;
        L2WriteResult? written;
        try
        {
            written = await _l2.ReplayAsync(new ReplayedWrite(key, value, expiration, baseVersion, ack?.Id ?? 0), ttl, sync, token).ConfigureAwait(false);
        }
        catch
        {
            _copies.CompleteWithoutCopy(ticket);
            throw;
        }

        if (written is not { } applied)
        {
            _copies.CompleteWithoutCopy(ticket);
            return false;
        }

        _replay.Forget(key);
        _counters.InvalidationsSent.Increment();
        _copies.CompleteWrite(ticket, applied.KeepCopy ? value : null, applied.Version, expiration, ttl, now);
        await AwaitAcknowledgementsAsync(key, ack, applied, sync).ConfigureAwait(false);
        return true;
    }

    private async ValueTask RemoveCoreAsync(string key, bool sync, CancellationToken token)
    {
        Coordinator.EnsureStarted();
        var ticket = _l1.BeginWrite(key);
        using var ack = AsksForAcknowledgements ? Coordinator.Acks.Register() : null;
        L2WriteResult removed;
        try
        {
            removed = await _l2.RemoveAsync(key, ack?.Id ?? 0, sync, token).ConfigureAwait(false);
            _replay.Forget(key);
            _counters.InvalidationsSent.Increment();
        }
        finally
        {
            _copies.CompleteWithoutCopy(ticket);
        }

        await AwaitAcknowledgementsAsync(key, ack, removed, sync).ConfigureAwait(false);
    }

    // No acknowledgements when they are off, or when no instance can hold a copy (L1 off on a deployment it cannot cover).
    private bool AsksForAcknowledgements => _ackTimeout > TimeSpan.Zero && !Coordinator.IsCoherenceUnavailable;

    /// <summary>
    /// Waits, within <see cref="CacheeOptions.InvalidationAckTimeout"/>, until every holder that heard the invalidation has
    /// dropped its copy, so that the caller's next request reads this change wherever it lands.
    /// </summary>
    private async ValueTask AwaitAcknowledgementsAsync(string key, AckTracker.Waiter? ack, L2WriteResult result, bool sync)
    {
        var others = result.Receivers;
        if (ack is null || others <= 0)
        {
            return;
        }

        using var activity = CacheeActivities.StartAcknowledgementWait(others);
        var started = _time.GetTimestamp();
        var complete = await ack.WaitAsync((int)Math.Min(others, int.MaxValue), _ackTimeout, sync).ConfigureAwait(false);
        _metrics.RecordAckWait(_time.GetElapsedTime(started));
        _ = activity?.SetTag("cachee.ack.complete", complete);
        if (!complete)
        {
            _counters.AckTimeouts.Increment();
            Log.AckTimeout(_logger, new RedactedKey(key), others, _ackTimeout);
        }
    }
}
