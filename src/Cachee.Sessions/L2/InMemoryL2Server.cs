using Cachee.Sessions.Invalidation;

namespace Cachee.Sessions.L2;

/// <summary>
/// An in-process stand-in for the Redis server shared by several instances: the same entry semantics as the Lua scripts
/// in <c>Redis/RedisScripts.cs</c>, expiry on a <see cref="TimeProvider"/>, and invalidations published to a hub.
/// </summary>
internal sealed class InMemoryL2Server(TimeProvider time, InMemoryInvalidationHub hub)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Stored> _entries = new(StringComparer.Ordinal);

    public InMemoryInvalidationHub Hub => hub;

    /// <summary>Counts every command the server ran, as Redis' <c>INFO commandstats</c> would count scripts.</summary>
    public long Commands { get; private set; }

    /// <summary>When set, every command throws this exception (plays an unreachable server).</summary>
    public Exception? Failure { get; set; }

    /// <summary>When set, every command waits for this task first (plays a paused server); commands run once it completes.</summary>
    public Task? Pause { get; set; }

    public L2Entry? Get(string key, bool refreshSliding, long nowTicks)
    {
        lock (_gate)
        {
            Enter();
            if (!TryGetLive(key, out var stored))
            {
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

    public L2WriteResult Set(string key, byte[] value, EntryExpiration expiration, long ttlMilliseconds, string messagePrefix, string messageSuffix)
    {
        long version;
        lock (_gate)
        {
            Enter();
            version = (TryGetLive(key, out var old) ? old.Version : 0) + 1;
            _entries[key] = new Stored(value, expiration, version, Expiry(ttlMilliseconds));
        }

        return new L2WriteResult(version, Publish(messagePrefix, version, messageSuffix));
    }

    /// <summary>Writes only if the entry's version is <paramref name="baseVersion"/> (0: no entry); null when it is not.</summary>
    public L2WriteResult? Replay(
        string key, long baseVersion, byte[] value, EntryExpiration expiration, long ttlMilliseconds, string messagePrefix, string messageSuffix)
    {
        lock (_gate)
        {
            Enter();
            if ((TryGetLive(key, out var current) ? current.Version : 0) != baseVersion)
            {
                return null;
            }
        }

        return Set(key, value, expiration, ttlMilliseconds, messagePrefix, messageSuffix);
    }

    public L2WriteResult Remove(string key, string messagePrefix, string messageSuffix)
    {
        long version;
        lock (_gate)
        {
            Enter();
            version = (TryGetLive(key, out var old) ? old.Version : 0) + 1;
            _ = _entries.Remove(key);
        }

        return new L2WriteResult(version, Publish(messagePrefix, version, messageSuffix));
    }

    public Renewal Refresh(string key, long? expectedVersion, long nowTicks)
    {
        lock (_gate)
        {
            Enter();
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
    public long Pttl(string key)
    {
        lock (_gate)
        {
            return TryGetLive(key, out var stored) ? Pttl(stored) : -2;
        }
    }

    /// <summary>Deletes a key without publishing anything, as Redis' own eviction or a FLUSHDB would.</summary>
    public void DropSilently(string key)
    {
        lock (_gate)
        {
            _ = _entries.Remove(key);
        }
    }

    /// <summary>Stores a payload no reader can parse, as a foreign writer might.</summary>
    public void PutCorrupt(string key)
    {
        lock (_gate)
        {
            _entries[key] = new Stored([], new EntryExpiration(EntryExpiration.None, EntryExpiration.None), 0, long.MaxValue) { Corrupt = true };
        }
    }

    private long Publish(string prefix, long version, string suffix) =>
        hub.Publish(string.Concat(prefix, version.ToString(System.Globalization.CultureInfo.InvariantCulture), suffix));

    private void Enter()
    {
        Commands++;
        if (Failure is { } failure)
        {
            throw failure;
        }
    }

    private bool TryGetLive(string key, out Stored stored)
    {
        if (_entries.TryGetValue(key, out stored!) && stored.ExpiresAtTicks <= time.GetUtcNow().UtcTicks)
        {
            _ = _entries.Remove(key);
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
