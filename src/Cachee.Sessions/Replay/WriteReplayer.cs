using Cachee.Sessions.Diagnostics;
using Cachee.Sessions.L1;
using Cachee.Sessions.L2;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.Replay;

/// <summary>
/// <see cref="WriteFailureMode.Replay"/>: writes accepted while Redis is unreachable wait in a bounded
/// <see cref="ReplayQueue"/>, are served by this instance meanwhile, and are written to Redis as soon as it answers, unless it
/// holds a newer version by then (never overwritten). In <see cref="WriteFailureMode.Throw"/> there is no queue and every
/// method answers "nothing queued".
/// <para>Lifetime: the host's stop drains the queue within its deadline (<see cref="DrainAsync"/>); disposal stops at once and
/// logs what it drops (<see cref="Abandon"/>).</para>
/// </summary>
internal sealed partial class WriteReplayer(
    ReplayQueue? queue, L1Store l1, L1Copies copies, IL2Store l2, CacheeCounters metrics, TimeProvider time, TimeSpan retryDelay, ILogger logger)
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private Task _loop = Task.CompletedTask;
    private bool _running;

    /// <summary>Writes waiting now.</summary>
    public int Count => queue?.Count ?? 0;

    /// <summary>This instance's own write of a key, accepted while Redis was unreachable and not replayed yet: the newest it knows.</summary>
    public ReplayedWrite? Find(string key) => queue?.Find(key);

    /// <summary>A write or remove of the key reached Redis directly: a queued one for it is obsolete.</summary>
    public void Forget(string key) => queue?.Forget(key);

    /// <summary>
    /// Accepts a write Redis could not take: queued (based on the version this instance knew), kept in L1 when L1 is being
    /// served, and replayed as soon as Redis answers. False when there is no queue or it is full: the write is then refused.
    /// </summary>
    public bool TryAccept(string key, byte[] value, EntryExpiration expiration, long knownVersion, in L1Ticket ticket, long ttl, Moment now)
    {
        if (queue is null)
        {
            return false;
        }

        if (!queue.TryEnqueue(key, value, expiration, knownVersion))
        {
            Log.ReplayQueueFull(logger, new RedactedKey(key), queue.Count);
            return false;
        }

        metrics.ReplayQueued.Increment();
        copies.CompleteWrite(ticket, value, knownVersion, expiration, ttl, now);
        Log.WriteQueued(logger, new RedactedKey(key));
        Start();
        return true;
    }

    /// <summary>Waits until the queue is empty (the replay goes on meanwhile) or <paramref name="token"/> gives up.</summary>
    public async Task DrainAsync(CancellationToken token)
    {
        if (Count == 0)
        {
            return;
        }

        Start();
        Task loop;
        lock (_gate)
        {
            loop = _loop;
        }

        try
        {
            await loop.WaitAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The host's shutdown deadline: what is left is dropped (and logged) at disposal.
        }
    }

    /// <summary>Stops replaying without waiting for Redis; logs the writes that are lost with this process.</summary>
    public void Abandon()
    {
        _stopping.Cancel();
        if (Count > 0)
        {
            Log.ReplayLost(logger, Count);
        }
    }

    /// <summary>The replay loop's task, for disposal to wait on (it ends soon after <see cref="Abandon"/>).</summary>
    public Task Stopped
    {
        get
        {
            lock (_gate)
            {
                return _loop;
            }
        }
    }

    /// <summary>Replays one queued write; false when Redis is still unreachable (it stays queued).</summary>
    private async Task<bool> ReplayOneAsync(ReplayedWrite write)
    {
        var now = copies.Now();
        var ttl = write.Expiration.TtlMilliseconds(now.Utc);
        if (ttl == 0)
        {
            Drop(write); // expired while it waited
            return true;
        }

        L2WriteResult? result;
        try
        {
            result = await l2.ReplayAsync(write, ttl, sync: false, CancellationToken.None).ConfigureAwait(false);
        }
        catch (CacheUnavailableException)
        {
            return false;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Redis answered with an error: this write can never be replayed.
            Log.ReplayFailed(logger, new RedactedKey(write.Key), ex);
            Drop(write);
            return true;
        }

        if (result is { } applied)
        {
            _ = queue!.Complete(write, applied.Version);
            metrics.ReplayApplied.Increment();
            metrics.InvalidationsSent.Increment();
            var ticket = l1.BeginWrite(write.Key);
            copies.CompleteWrite(ticket, queue.Find(write.Key) is null && applied.KeepCopy ? write.Value : null, applied.Version, write.Expiration, ttl, now);
            Log.WriteReplayed(logger, new RedactedKey(write.Key), applied.Version);
        }
        else
        {
            metrics.ReplaySuperseded.Add(queue!.Complete(write, null));
            _ = l1.Invalidate(write.Key, long.MaxValue);
            Log.ReplaySuperseded(logger, new RedactedKey(write.Key), write.BaseVersion);
        }

        return true;
    }

    private void Drop(ReplayedWrite write)
    {
        queue!.Discard(write);
        metrics.ReplaySuperseded.Increment();
        _ = l1.Invalidate(write.Key, long.MaxValue);
    }

    private void Start()
    {
        lock (_gate)
        {
            if (_running || _stopping.IsCancellationRequested)
            {
                return;
            }

            _running = true;
            _loop = Task.Run(LoopAsync);
        }
    }

    // Replays the queue oldest first; while Redis is still unreachable, tries again every retry delay (the circuit breaker's
    // break duration: it lets one probe through as often).
    private async Task LoopAsync()
    {
        var token = _stopping.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                ReplayedWrite? write;
                lock (_gate)
                {
                    write = queue!.Oldest();
                    if (write is null)
                    {
                        _running = false; // a write queued from now on starts the loop again
                        return;
                    }
                }

                if (!await ReplayOneAsync(write).ConfigureAwait(false))
                {
                    await Task.Delay(retryDelay, time, token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Abandoned.
        }
        finally
        {
            lock (_gate)
            {
                _running = false;
            }
        }
    }
}
