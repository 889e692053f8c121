using Cachee.Sessions.L2;


namespace Cachee.Sessions.Replay;

/// <summary>
/// Writes accepted while Redis was unreachable (<see cref="WriteFailureMode.Replay"/>), one per key, oldest first, bounded.
/// A second write to a queued key replaces the value but keeps the base version of the first: both were made on top of
/// what this instance knew before the outage, and Redis must still hold exactly that for the replay to apply.
/// </summary>
internal sealed class ReplayQueue(int capacity)
{
    private readonly Lock _gate = new();
    private readonly OrderedDictionary<string, ReplayedWrite> _pending = new(StringComparer.Ordinal);

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Queues a write; false when the queue is full (the write is then not accepted).</summary>
    public bool TryEnqueue(string key, byte[] value, EntryExpiration expiration, long baseVersion)
    {
        lock (_gate)
        {
            if (_pending.TryGetValue(key, out var queued))
            {
                _pending[key] = new ReplayedWrite(key, value, expiration, queued.BaseVersion);
                return true;
            }

            if (_pending.Count >= capacity)
            {
                return false;
            }

            _pending.Add(key, new ReplayedWrite(key, value, expiration, baseVersion));
            return true;
        }
    }

    /// <summary>The queued write of a key, if any: this instance's reads answer with it until it is replayed.</summary>
    public ReplayedWrite? Find(string key)
    {
        lock (_gate)
        {
            return _pending.TryGetValue(key, out var queued) ? queued : null;
        }
    }

    /// <summary>The oldest queued write, left in the queue until <see cref="Complete"/>.</summary>
    public ReplayedWrite? Oldest()
    {
        lock (_gate)
        {
            return _pending.Count == 0 ? null : _pending.GetAt(0).Value;
        }
    }

    /// <summary>
    /// Settles a replayed write. Applied at <paramref name="version"/>: a write queued for the key meanwhile now builds on that
    /// version. Not applied (null: Redis holds newer data): a write queued meanwhile was built on the same outdated view and
    /// is dropped too. Returns how many queued writes were dropped.
    /// </summary>
    public int Complete(ReplayedWrite write, long? version)
    {
        lock (_gate)
        {
            if (!_pending.TryGetValue(write.Key, out var current))
            {
                return 0;
            }

            if (ReferenceEquals(current, write) || version is null)
            {
                _ = _pending.Remove(write.Key);
                return version is null ? 1 : 0;
            }

            _pending[write.Key] = current with { BaseVersion = version.Value };
            return 0;
        }
    }

    /// <summary>Drops the queued write of a key that was just written to (or removed from) Redis directly.</summary>
    public void Forget(string key)
    {
        lock (_gate)
        {
            _ = _pending.Remove(key);
        }
    }

    /// <summary>Removes a write that can no longer be replayed (its entry expired meanwhile).</summary>
    public void Discard(ReplayedWrite write)
    {
        lock (_gate)
        {
            if (_pending.TryGetValue(write.Key, out var current) && ReferenceEquals(current, write))
            {
                _ = _pending.Remove(write.Key);
            }
        }
    }
}
