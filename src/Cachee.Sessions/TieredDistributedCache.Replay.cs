using Cachee.Sessions.L1;
using Cachee.Sessions.L2;

namespace Cachee.Sessions;

// WriteFailureMode.Replay: writes accepted while Redis is unreachable, and their replay once it answers again.
public sealed partial class TieredDistributedCache
{
    private int _replaying;

    /// <summary>
    /// Accepts a write Redis could not take: queued for replay (based on the version this instance knew) and kept in L1 when
    /// L1 is being served. False when the queue is full: the write is then refused like in <see cref="WriteFailureMode.Throw"/>.
    /// </summary>
    private bool QueueForReplay(string key, byte[] value, EntryExpiration expiration, long knownVersion, in L1Ticket ticket, long ttl, Moment now)
    {
        if (!_replay!.TryEnqueue(key, value, expiration, knownVersion))
        {
            Log.ReplayQueueFull(_logger, key, _replay.Count);
            return false;
        }

        _metrics.ReplayQueued.Increment();
        var entry = ticket.CanInstall && value.Length <= _l1.MaxEntryBytes
            ? NewEntry(key, value, knownVersion, ticket.Epoch, expiration, ttl, now)
            : null;
        _ = _l1.CompleteWrite(ticket, entry);
        Log.WriteQueued(_logger, key);
        StartReplay();
        return true;
    }

    private void StartReplay()
    {
        if (Interlocked.Exchange(ref _replaying, 1) == 0)
        {
            _ = ReplayLoopAsync();
        }
    }

    // Replays the queue oldest first; while Redis is still unreachable, tries again every break duration (the circuit
    // breaker lets one probe through as often).
    private async Task ReplayLoopAsync()
    {
        try
        {
            while (Volatile.Read(ref _disposed) == 0 && _replay!.Oldest() is { } write)
            {
                if (!await ReplayOneAsync(write).ConfigureAwait(false))
                {
                    await Task.Delay(_breakDuration, _time).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _replaying, 0);
            if (Volatile.Read(ref _disposed) == 0 && _replay!.Count > 0)
            {
                StartReplay(); // a write queued just as the loop ended
            }
        }
    }

    /// <summary>Replays one queued write; false when Redis is still unreachable (it stays queued).</summary>
    internal async Task<bool> ReplayOneAsync(ReplayedWrite write)
    {
        var now = Now();
        var ttl = write.Expiration.TtlMilliseconds(now.Utc);
        if (ttl == 0)
        {
            _replay!.Discard(write);
            _metrics.ReplaySuperseded.Increment();
            _ = _l1.Invalidate(write.Key, long.MaxValue);
            return true;
        }

        L2WriteResult? result;
        try
        {
            result = await _l2.ReplayAsync(write, ttl, sync: false, CancellationToken.None).ConfigureAwait(false);
        }
        catch (CacheUnavailableException)
        {
            return false;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Redis answered with an error: this write can never be replayed.
            Log.ReplayFailed(_logger, write.Key, ex);
            _replay!.Discard(write);
            _metrics.ReplaySuperseded.Increment();
            _ = _l1.Invalidate(write.Key, long.MaxValue);
            return true;
        }

        if (result is { } applied)
        {
            _ = _replay!.Complete(write, applied.Version);
            _metrics.ReplayApplied.Increment();
            _metrics.InvalidationsSent.Increment();
            var ticket = _l1.BeginWrite(write.Key);
            var entry = ticket.CanInstall && write.Value.Length <= _l1.MaxEntryBytes && _replay.Find(write.Key) is null
                ? NewEntry(write.Key, write.Value, applied.Version, ticket.Epoch, write.Expiration, ttl, now)
                : null;
            _ = _l1.CompleteWrite(ticket, entry);
            Log.WriteReplayed(_logger, write.Key, applied.Version);
        }
        else
        {
            var dropped = _replay!.Complete(write, null);
            _metrics.ReplaySuperseded.Add(dropped);
            _ = _l1.Invalidate(write.Key, long.MaxValue);
            Log.ReplaySuperseded(_logger, write.Key, write.BaseVersion);
        }

        return true;
    }

    // At shutdown: one last pass over the queue (each write bounded by the operation timeout); whatever is left is lost and logged.
    private async Task FlushReplayAtShutdownAsync()
    {
        if (_replay is null)
        {
            return;
        }

        while (_replay.Oldest() is { } write && await ReplayOneAsync(write).ConfigureAwait(false))
        {
        }

        if (_replay.Count > 0)
        {
            Log.ReplayLost(_logger, _replay.Count);
        }
    }
}
