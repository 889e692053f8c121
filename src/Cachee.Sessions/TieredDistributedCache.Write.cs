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
        var hold = Holds(ticket);
        using var ack = AsksForAcknowledgements ? Coordinator.Acks.Register() : null;
        L2WriteResult written;
        try
        {
            written = await _l2.SetAsync(key, value, expiration, ttl, ack?.Id ?? 0, hold, sync, token).ConfigureAwait(false);
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
        if (hold && written.KeepCopy)
        {
            _holding.Held(ticket.Hash);
        }

        _copies.CompleteWrite(ticket, hold && written.KeepCopy ? value : null, written.Version, expiration, ttl, now);
        await AwaitAcknowledgementsAsync(key, ack, written, sync).ConfigureAwait(false);
    }

    /// <summary>
    /// Sets (a value) or removes (null) several keys of one cluster slot in one step, with every guarantee of a write: other
    /// instances see all of the changes or none, and the writer waits for the holders of every key changed. With
    /// <paramref name="guard"/>, only if Redis still holds that key at that version (read it with <see cref="ReadFromRedisAsync"/>);
    /// false, changing nothing, when it does not. Redis must answer: such a write is never queued for replay.
    /// </summary>
    internal async ValueTask<bool> WriteManyAsync(
        IReadOnlyList<KeyValuePair<string, byte[]?>> changes, DistributedCacheEntryOptions options, VersionGuard? guard, bool sync, CancellationToken token)
    {
        var now = _copies.Now();
        var expiration = EntryExpiration.FromOptions(options, now.Utc);
        var ttl = expiration.TtlMilliseconds(now.Utc);
        Coordinator.EnsureStarted();
        var tickets = changes.Select(change => _l1.BeginWrite(change.Key)).ToArray();
        var holds = tickets.Select(Holds).ToArray(); // decided once: a copy is kept only where the script registered the writer
        using var ack = AsksForAcknowledgements ? Coordinator.Acks.Register() : null;
        L2WriteResult[]? written;
        try
        {
            var keyChanges = changes.Select((change, i) => new KeyChange(change.Key, change.Value, expiration, ttl, holds[i])).ToArray();
            written = await _l2.WriteManyAsync(keyChanges, guard, ack?.Id ?? 0, sync, token).ConfigureAwait(false);
        }
        catch
        {
            Array.ForEach(tickets, ticket => _copies.CompleteWithoutCopy(ticket));
            throw;
        }

        if (written is null)
        {
            Array.ForEach(tickets, ticket => _copies.CompleteWithoutCopy(ticket));
            return false;
        }

        for (var i = 0; i < changes.Count; i++)
        {
            _replay.Forget(changes[i].Key);
            _counters.InvalidationsSent.Increment();
            if (changes[i].Value is { } value && written[i].KeepCopy && holds[i])
            {
                _holding.Held(tickets[i].Hash);
                _copies.CompleteWrite(tickets[i], value, written[i].Version, expiration, ttl, now);
            }
            else
            {
                _copies.CompleteWithoutCopy(tickets[i]);
            }
        }

        var all = new L2WriteResult(written.Max(result => result.Version), written.Sum(result => result.Receivers));
        await AwaitAcknowledgementsAsync(changes[0].Key, ack, all, sync).ConfigureAwait(false);
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

    // Whether a copy of the key is kept here (see HoldingPolicy): L1 trusted, and the key's copies pay here, or the key is
    // large (a hit then saves a transfer of the whole value, which outweighs a copy's fixed cost).
    private bool Holds(L1.L1Ticket ticket) => ticket.CanInstall && (_holding.ShouldHold(ticket.Hash) || _l2.IsLarge(ticket.Key));

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
