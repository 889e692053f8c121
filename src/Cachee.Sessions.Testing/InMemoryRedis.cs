using Cachee.Sessions.L2;


namespace Cachee.Sessions.Testing;

/// <summary>
/// An in-process stand-in for the Redis server shared by several instances: the same entry semantics as the Lua scripts
/// in <c>Redis/Scripts/</c>, expiry on a <see cref="TimeProvider"/>, the holder registries (a change is sent to the
/// holders only), and server-assisted tracking (every change, by whichever client, is reported to the instances that read the
/// key since its last change, except the one that made it). Registrations do not expire here. Unlike Redis, a renewal of an
/// entry's expiry is not reported to trackers.
/// </summary>
public sealed class InMemoryRedis(TimeProvider time)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Stored> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _holders = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _trackers = new(StringComparer.Ordinal);

    private readonly InMemoryInvalidationHub hub = new();
    private Exception? _failure;
    private Task? _pause;

    internal InMemoryInvalidationHub Hub => hub;

    /// <summary>Counts every command the server ran, as Redis' <c>INFO commandstats</c> would count scripts.</summary>
    public long Commands { get; private set; }

    /// <summary>Makes every command throw <paramref name="error"/> (an unreachable server) until <see cref="Recover"/>.</summary>
    /// <param name="error">What each command throws; a connection failure when null.</param>
    public void Fail(Exception? error = null) =>
        Volatile.Write(ref _failure, error ?? new StackExchange.Redis.RedisConnectionException(
            StackExchange.Redis.ConnectionFailureType.UnableToConnect, "InMemoryRedis: failing, as asked by the test."));

    /// <summary>Ends a failure begun by <see cref="Fail"/>: commands run again.</summary>
    public void Recover() => Volatile.Write(ref _failure, null);

    /// <summary>Makes every command wait until <paramref name="until"/> completes (a paused server); they then run in order.</summary>
    /// <param name="until">The end of the pause.</param>
    public void PauseUntil(Task until)
    {
        ArgumentNullException.ThrowIfNull(until);
        Volatile.Write(ref _pause, until);
    }

    /// <summary>The pause commands wait for, if one is in force.</summary>
    internal Task? Pause => Volatile.Read(ref _pause) is { IsCompleted: false } pause ? pause : null;

    /// <summary>
    /// Reads an entry for <paramref name="origin"/>, registering it as a holder first and tracking the read when
    /// <paramref name="register"/> (as Cachee's shared connection is tracked; a read that keeps no copy goes through an
    /// untracked one).
    /// </summary>
    internal L2Entry? Get(string key, string origin, bool register, bool refreshSliding, long nowTicks)
    {
        lock (_gate)
        {
            Enter();
            if (register)
            {
                Members(_holders, key).Add(origin);
                Members(_trackers, key).Add(origin);
            }

            if (!TryGetLive(key, out var stored))
            {
                if (register)
                {
                    _ = Members(_holders, key).Remove(origin);
                }

                return null;
            }

            if (stored.Corrupt)
            {
                throw new L2PayloadException("The stored payload is not an entry.");
            }

            if (refreshSliding && !Renew(key, stored, nowTicks))
            {
                return null;
            }

            return new L2Entry(stored.Data, stored.Expiration, stored.Version, RedisTtl.FromPttl(Pttl(stored)));
        }
    }

    internal L2WriteResult Set(
        string key, byte[] value, EntryExpiration expiration, long ttlMilliseconds, string origin, string messagePrefix, string messageSuffix, bool hold = true)
    {
        lock (_gate)
        {
            Enter();
            var version = (TryGetLive(key, out var old) ? old.Version : 0) + 1;
            _entries[key] = new Stored(value, expiration, version, Expiry(ttlMilliseconds));
            Revoke(key, origin);
            var notified = NotifyHolders(key, origin, messagePrefix, version, messageSuffix);
            if (hold)
            {
                Members(_holders, key).Add(origin);
                Members(_trackers, key).Add(origin); // the script reads the version back
            }

            return new L2WriteResult(version, notified);
        }
    }

    /// <summary>Changes several entries in one step, only if the guard's entry is at its version; null when it is not.</summary>
    internal L2WriteResult[]? WriteMany(
        IReadOnlyList<KeyChange> changes, VersionGuard? guard, string origin, string messagePrefix, Func<string, string> messageSuffix)
    {
        lock (_gate)
        {
            Enter();
            if (guard is { } g && (TryGetLive(g.Key, out var current) ? current.Version : 0) != g.Version)
            {
                return null;
            }

            var results = new L2WriteResult[changes.Count];
            for (var i = 0; i < changes.Count; i++)
            {
                var change = changes[i];
                Commands--; // one command in all: each nested call counts itself again
                results[i] = change.Value is { } value
                    ? Set(change.Key, value, change.Expiration, change.TtlMilliseconds, origin, messagePrefix, messageSuffix(change.Key), change.Hold)
                    : Remove(change.Key, origin, messagePrefix, messageSuffix(change.Key));
            }

            return results;
        }
    }

    /// <summary>Writes only if the entry's version is <paramref name="baseVersion"/> (0: no entry); null when it is not.</summary>
    internal L2WriteResult? Replay(
        string key, long baseVersion, byte[] value, EntryExpiration expiration, long ttlMilliseconds, string origin, string messagePrefix, string messageSuffix)
    {
        lock (_gate)
        {
            Enter();
            if ((TryGetLive(key, out var current) ? current.Version : 0) != baseVersion)
            {
                return null;
            }

            return Set(key, value, expiration, ttlMilliseconds, origin, messagePrefix, messageSuffix);
        }
    }

    internal L2WriteResult Remove(string key, string origin, string messagePrefix, string messageSuffix)
    {
        lock (_gate)
        {
            Enter();
            var version = (TryGetLive(key, out var old) ? old.Version : 0) + 1;
            if (_entries.Remove(key))
            {
                Revoke(key, origin);
            }

            return new L2WriteResult(version, NotifyHolders(key, origin, messagePrefix, version, messageSuffix));
        }
    }

    /// <summary>Writes an entry as another client would (a RedisCache instance, or <c>HSET</c> from redis-cli): no version change, no holder notified; trackers are told.</summary>
    public void SetFromOtherClient(string key, byte[] value)
    {
        lock (_gate)
        {
            var version = TryGetLive(key, out var old) ? old.Version : 0;
            _entries[key] = new Stored(value, old?.Expiration ?? new EntryExpiration(EntryExpiration.None, EntryExpiration.None), version, old?.ExpiresAtTicks ?? long.MaxValue);
            Revoke(key, except: null);
        }
    }

    /// <summary>Deletes a key as another client (a <c>DEL</c> from redis-cli), Redis' eviction or its expiry would: trackers are told.</summary>
    public void DeleteFromOtherClient(string key)
    {
        lock (_gate)
        {
            if (_entries.Remove(key))
            {
                Revoke(key, except: null);
            }
        }
    }

    /// <summary>Expires, as Redis' active expiry cycle does, every entry whose time has come: trackers are told.</summary>
    internal void ExpireDue()
    {
        lock (_gate)
        {
            foreach (var key in _entries.Keys.ToArray())
            {
                _ = TryGetLive(key, out _);
            }
        }
    }

    /// <summary>How many instances are registered as holders of <paramref name="key"/>.</summary>
    public int HolderCount(string key)
    {
        lock (_gate)
        {
            return _holders.TryGetValue(key, out var holders) ? holders.Count : 0;
        }
    }

    internal Renewal Refresh(string key, long? expectedVersion, string? holder, long nowTicks)
    {
        lock (_gate)
        {
            Enter();
            if (holder is not null && _entries.ContainsKey(key))
            {
                Members(_holders, key).Add(holder);
            }

            if (!TryGetLive(key, out var stored) || stored.Corrupt)
            {
                return Renewal.Missing;
            }

            if (expectedVersion is { } expected && stored.Version != expected)
            {
                return Renewal.VersionChanged;
            }

            return Renew(key, stored, nowTicks)
                ? Renewal.Renewed(RedisTtl.FromPttl(Pttl(stored)), stored.Expiration.RenewalReachesAbsolute(nowTicks))
                : Renewal.Missing;
        }
    }

    /// <summary>The remaining time to live of a key as Redis' PTTL reports it (-2: missing, -1: no expiry).</summary>
    internal long Pttl(string key)
    {
        lock (_gate)
        {
            return TryGetLive(key, out var stored) ? Pttl(stored) : -2;
        }
    }

    /// <summary>Deletes a key without telling anyone (plays a change whose report was lost).</summary>
    internal void DropSilently(string key)
    {
        lock (_gate)
        {
            _ = _entries.Remove(key);
        }
    }

    /// <summary>Stores a payload no reader can parse, as a foreign writer might.</summary>
    internal void PutCorrupt(string key)
    {
        lock (_gate)
        {
            _entries[key] = new Stored([], new EntryExpiration(EntryExpiration.None, EntryExpiration.None), 0, long.MaxValue) { Corrupt = true };
        }
    }

    // As the scripts do: the registry is emptied, and each holder but the writer is sent the invalidation.
    private long NotifyHolders(string key, string writer, string prefix, long version, string suffix)
    {
        if (!_holders.Remove(key, out var holders))
        {
            return 0;
        }

        var message = string.Concat(prefix, version.ToString(System.Globalization.CultureInfo.InvariantCulture), suffix);
        return holders.Where(holder => holder != writer).Sum(holder => hub.Send(holder, message));
    }

    // As tracking does: every instance that read the key since its last change is told (but the one that changed it, NOLOOP).
    private void Revoke(string key, string? except)
    {
        if (_trackers.Remove(key, out var trackers))
        {
            foreach (var tracker in trackers.Where(tracker => tracker != except))
            {
                hub.Revoke(tracker, key);
            }
        }
    }

    private static HashSet<string> Members(Dictionary<string, HashSet<string>> sets, string key)
    {
        if (!sets.TryGetValue(key, out var members))
        {
            members = new HashSet<string>(StringComparer.Ordinal);
            sets[key] = members;
        }

        return members;
    }

    private void Enter()
    {
        Commands++;
        if (Volatile.Read(ref _failure) is { } failure)
        {
            throw failure;
        }
    }

    private bool TryGetLive(string key, out Stored stored)
    {
        if (_entries.TryGetValue(key, out stored!) && stored.ExpiresAtTicks <= time.GetUtcNow().UtcTicks)
        {
            _ = _entries.Remove(key);
            Revoke(key, except: null);
            stored = null!;
        }

        return stored is not null;
    }

    private bool Renew(string key, Stored stored, long nowTicks)
    {
        if (!stored.Expiration.HasSliding)
        {
            return true;
        }

        var ttl = stored.Expiration.TtlMilliseconds(nowTicks);
        if (ttl == 0)
        {
            _ = _entries.Remove(key);
            return false;
        }

        stored.ExpiresAtTicks = Expiry(ttl);
        return true;
    }

    private long Expiry(long ttlMilliseconds) =>
        ttlMilliseconds < 0 ? long.MaxValue : time.GetUtcNow().UtcTicks + (ttlMilliseconds * TimeSpan.TicksPerMillisecond);

    private long Pttl(Stored stored) =>
        stored.ExpiresAtTicks == long.MaxValue ? -1 : (stored.ExpiresAtTicks - time.GetUtcNow().UtcTicks) / TimeSpan.TicksPerMillisecond;

    private sealed class Stored(byte[] data, EntryExpiration expiration, long version, long expiresAtTicks)
    {
        public byte[] Data { get; } = data;

        public EntryExpiration Expiration { get; } = expiration;

        public long Version { get; } = version;

        public long ExpiresAtTicks { get; set; } = expiresAtTicks;

        public bool Corrupt { get; init; }
    }
}
