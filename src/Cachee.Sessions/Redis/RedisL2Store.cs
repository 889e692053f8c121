using System.Globalization;
using Cachee.Sessions.Invalidation;
using Cachee.Sessions.L2;
using Cachee.Sessions.Payload;
using Cachee.Sessions.Redis.Cluster;
using Cachee.Sessions.Redis.Scripts;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis;

/// <summary>The L2 store on Redis, in RedisCache's hash format (see <c>Redis/Scripts/</c>: one file per script, its arguments and its reply).</summary>
internal sealed class RedisL2Store : IL2Store
{
    private static readonly RedisValue[] EntryFields = ["absexp", "sldexp", "data", "ver", "enc"];

    // Reads go to the master only. StackExchange.Redis' default (PreferMaster) sends them to a replica while the master is
    // unreachable, and a replica may be behind: during a failover that served reads missing acknowledged writes (a Sentinel
    // chaos test caught one). Without the master, a read fails, and L1's stale-on-error rules apply.
    private const CommandFlags MasterOnly = CommandFlags.DemandMaster;
    private readonly RedisConnection _connection;
    private readonly RedisKey _prefix;
    private readonly string? _instanceName;
    private readonly string _origin;
    private readonly ShardInboxes _inboxes;
    private readonly ClusterTopology _topology;
    private readonly DurableWriteConnections? _durable;
    private readonly UntrackedConnections? _large;
    private readonly UntrackedConnections? _untracked;
    private readonly int _largeThreshold;
    private readonly LargeKeyHints _largeKeys = new();
    private readonly PayloadCodec _codec;
    private readonly int _minReplicas;
    private readonly string _messagePrefix;
    private readonly long _registrationMs = (long)HolderRegistry.Lifetime.TotalMilliseconds;
    private readonly long _writeWindowMs;
    private readonly TimeSpan? _slidingTolerance;
    private static readonly TimeSpan UploadLifetime = TimeSpan.FromMinutes(1);
    private long _clockOffsetMs;
    private long _uploads;
    private int _clockMeasured;

    /// <param name="connection">The cache's connection.</param>
    /// <param name="instanceName">The key prefix.</param>
    /// <param name="topology">The layout: cluster or not, the slot and node of a key.</param>
    /// <param name="inboxes">The instances' channels (this instance's own, made sure of before it registers or writes on a cluster).</param>
    /// <param name="origin">This instance's id: its name in holder registries and in its channel's name.</param>
    /// <param name="operationTimeout">How long callers wait; writes must reach Redis well within it (see <see cref="WriteWindow"/>).</param>
    /// <param name="slidingTolerance">The configured <see cref="CacheeOptions.SlidingRefreshTolerance"/> (null: the default).</param>
    /// <param name="minReplicas">The configured <see cref="CacheeOptions.MinReplicasToAcknowledge"/> (writes then run on <see cref="RedisConnection.Durable"/>).</param>
    /// <param name="codec">What values become in Redis: compressed, encrypted (null: stored as they are).</param>
    /// <param name="largeValueThreshold">The configured <see cref="CacheeOptions.LargeValueThreshold"/> (such values travel on <see cref="RedisConnection.Large"/>).</param>
    public RedisL2Store(
        RedisConnection connection, string? instanceName, ClusterTopology topology, ShardInboxes inboxes, string origin, TimeSpan operationTimeout,
        TimeSpan? slidingTolerance = null, int minReplicas = 0, int largeValueThreshold = int.MaxValue, PayloadCodec? codec = null)
    {
        _codec = codec ?? new PayloadCodec(null, null, encryptWrites: false, requireEncrypted: false);
        _large = connection.Large;
        _untracked = connection.Untracked;
        _largeThreshold = largeValueThreshold;
        _durable = minReplicas > 0 ? connection.Durable ?? throw new ArgumentException("The connection has no connections for acknowledged writes.", nameof(connection)) : null;
        _minReplicas = minReplicas;
        _slidingTolerance = slidingTolerance;
        _writeWindowMs = (long)WriteWindow(operationTimeout).TotalMilliseconds;
        _connection = connection;
        _prefix = string.IsNullOrEmpty(instanceName) ? default : new RedisKey(instanceName);
        _instanceName = instanceName;
        _inboxes = inboxes;
        _topology = topology;
        _origin = origin;
        _messagePrefix = InvalidationMessage.InvalidationPrefix(origin);
    }

    /// <summary>
    /// How long after it was sent Redis still applies a write: the operation timeout minus a margin (a quarter of it, at most
    /// 250 ms) left for the reply to travel back before the caller gives up.
    /// </summary>
    public static TimeSpan WriteWindow(TimeSpan operationTimeout) =>
        operationTimeout - TimeSpan.FromTicks(Math.Min(operationTimeout.Ticks / 4, TimeSpan.FromMilliseconds(250).Ticks));

    public bool IsLarge(string key) => _largeKeys.Contains(key);

    public string? ConnectionProblem => _connection.Problem;

    public async Task CheckAccessAsync(CancellationToken token)
    {
        const string key = "cachee:access-check";
        _ = await GetAsync(key, register: false, refreshSliding: false, nowTicks: 0, sync: false, token).ConfigureAwait(false);
        _ = await RemoveAsync(key, ackId: 0, sync: false, token).ConfigureAwait(false);
    }

    /// <summary>
    /// One round trip of plain commands, sent together: with <paramref name="register"/>, the holder registration (<c>SADD</c> and <c>PEXPIRE</c> of the registry, before the entry is read), then <c>HMGET</c> of the entry's
    /// fields, then <c>PTTL</c>. No script: a script's calls and its copy of the value through Lua cost Redis several
    /// times what these commands cost. A read that registers goes through the shared connection, which Redis tracks; one that
    /// does not (its value is not kept) through a connection Redis does not track, so that it costs Redis no more than
    /// RedisCache's read. A sliding entry read with <paramref name="refreshSliding"/> whose time to live has
    /// fallen more than the sliding tolerance below its window is then renewed by the <see cref="RefreshScript"/> script,
    /// only if it is still at the version read (a second round trip, at most once per tolerance for an entry read again and
    /// again, as renewals of L1 hits are).
    /// <para>The time to live is read after the fields, so that a write landing between the two can only pair an older value
    /// with the newer entry's expiry: the newer version's invalidation then drops that copy from L1.</para>
    /// </summary>
    public async ValueTask<L2Entry?> GetAsync(
        string key, bool register, bool refreshSliding, long nowTicks, bool sync, CancellationToken token)
    {
        token.ThrowIfCancellationRequested();
        if (register && _topology.IsCluster)
        {
            return await ReadRegisteredAsync(key, refreshSliding, nowTicks, sync, token).ConfigureAwait(false);
        }

        var large = _large is not null && _largeKeys.Contains(key);
        var shared = (await _connection.GetAsync(sync, token).ConfigureAwait(false)).GetDatabase();
        if (register && large)
        {
            return await ReadLargeAsync(shared, key, refreshSliding, nowTicks, sync, token).ConfigureAwait(false);
        }

        var untracked = register ? null : large ? _large : _untracked;
        var database = untracked is null ? shared : (await untracked.GetAsync(sync, token).ConfigureAwait(false)).GetDatabase();
        RedisKey redisKey = _prefix.Append(key);
        var holders = HolderRegistryKey.For(_instanceName, key);
        if (register)
        {
            // Sent before the read on the same connection, so Redis runs them first: a change after the read notifies us.
            _ = database.SetAdd(holders, _origin, CommandFlags.FireAndForget);
            _ = database.KeyExpire(holders, HolderRegistry.Lifetime, CommandFlags.FireAndForget);
        }

        var read = database.HashGetAsync(redisKey, EntryFields, MasterOnly);
        long ttl;
        try
        {
            ttl = (long)(sync ? database.Execute("PTTL", [redisKey], MasterOnly) : await database.ExecuteAsync("PTTL", [redisKey], MasterOnly).ConfigureAwait(false));
        }
        catch
        {
            _ = read.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw;
        }

        RedisValue[] fields;
        try
        {
            fields = await read.ConfigureAwait(false); // its reply came before PTTL's
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
        {
            throw new L2PayloadException("The key holds another type than a hash.");
        }

        if (fields[2].IsNull)
        {
            if (register)
            {
                // Nothing to hold: leave the registry (an empty set is deleted by Redis).
                _ = database.SetRemove(holders, _origin, CommandFlags.FireAndForget);
            }

            return null;
        }

        var entry = Entry(key, fields[0], fields[1], fields[2], Version(fields[3]), RedisTtl.FromPttl(ttl), fields[4]);
        _largeKeys.Saw(key, entry.Data.Length, _largeThreshold);
        return refreshSliding && entry.Expiration.HasSliding
            ? await RenewIfDueAsync(key, entry, tracked: untracked is null, nowTicks, sync, token).ConfigureAwait(false)
            : entry;
    }

    /// <summary>
    /// A key this instance last saw holding a large value: first, on the shared connection, the registration and a read of
    /// the entry's version and size and of its time to live (small replies, and the read that tracking follows), then its
    /// fields over a large-value connection, so the value never holds up the shared one. The copy may be kept when both reads
    /// saw the same version: tracking covers every change since the first. Otherwise the value is served, not kept.
    /// </summary>
    private async ValueTask<L2Entry?> ReadLargeAsync(
        IDatabase database, string key, bool refreshSliding, long nowTicks, bool sync, CancellationToken token)
    {
        RedisKey redisKey = _prefix.Append(key);
        var holders = HolderRegistryKey.For(_instanceName, key);
        _ = database.SetAdd(holders, _origin, CommandFlags.FireAndForget);
        _ = database.KeyExpire(holders, HolderRegistry.Lifetime, CommandFlags.FireAndForget);

        var version = database.HashGetAsync(redisKey, "ver", MasterOnly);
        var length = database.HashStringLengthAsync(redisKey, "data", MasterOnly);
        long ttl;
        try
        {
            ttl = (long)(sync ? database.Execute("PTTL", [redisKey], MasterOnly) : await database.ExecuteAsync("PTTL", [redisKey], MasterOnly).ConfigureAwait(false));
        }
        catch
        {
            _ = version.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            _ = length.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw;
        }

        long trackedVersion;
        try
        {
            trackedVersion = Version(await version.ConfigureAwait(false)); // their replies came before PTTL's
            if (await length.ConfigureAwait(false) == 0)
            {
                _ = database.SetRemove(holders, _origin, CommandFlags.FireAndForget);

                _largeKeys.Forget(key);
                return null;
            }
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
        {
            throw new L2PayloadException("The key holds another type than a hash.");
        }

        if (await FetchLargeAsync(key, trackedVersion, ttl, sync, token).ConfigureAwait(false) is not { } entry)
        {
            return null;
        }

        return refreshSliding && entry.Expiration.HasSliding
            ? await RenewIfDueAsync(key, entry, tracked: true, nowTicks, sync, token).ConfigureAwait(false)
            : entry;
    }

    // On a cluster, the read that registers is a script: Redis registers this instance only if it listens on that node on its
    // channel of the key's slot (a slot may have moved); otherwise the value read is not to be kept (an unknown time to live),
    // and this instance subscribes again where the slot is now.
    private async ValueTask<L2Entry?> ReadRegisteredAsync(string key, bool refreshSliding, long nowTicks, bool sync, CancellationToken token)
    {
        await _inboxes.EnsureInboxAsync(key).ConfigureAwait(false);
        var large = _large is not null && _largeKeys.Contains(key);
        var read = ReadRegisteredScript.Parse(await EvaluateAsync(
            ReadRegisteredScript.Text, KeysOf(key, null), ReadRegisteredScript.Arguments(_origin, _registrationMs, _inboxes.OwnInboxFor(key), large), sync, token).ConfigureAwait(false));
        var registered = read.Registered;
        if (!registered)
        {
            _ = _inboxes.ResubscribeAsync(key).AsTask().ContinueWith(
                static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }

        L2Entry entry;
        if (large)
        {
            if ((long)read.Data == 0)
            {
                _largeKeys.Forget(key);
                return null;
            }

            if (await FetchLargeAsync(key, Version(read.Version), read.Pttl, sync, token).ConfigureAwait(false) is not { } fetched)
            {
                return null;
            }

            entry = fetched;
        }
        else
        {
            if (read.Data.IsNull)
            {
                return null;
            }

            entry = Entry(key, read.Absolute, read.Sliding, read.Data, Version(read.Version), RedisTtl.FromPttl(read.Pttl), read.Encoding);
            _largeKeys.Saw(key, entry.Data.Length, _largeThreshold);
        }

        var result = refreshSliding && entry.Expiration.HasSliding
            ? await RenewIfDueAsync(key, entry, tracked: true, nowTicks, sync, token).ConfigureAwait(false)
            : entry;
        return result is { } found && !registered ? found with { Ttl = RedisTtl.Unknown } : result;
    }

    // The fields of a key last seen large, over a large-value connection, after a read that tracking follows saw it at
    // trackedVersion with ttl: the entry's time to live is known (its copy may be kept) only when the two saw the same
    // version. Null when the entry is gone since (its removal's invalidation is on its way).
    private async ValueTask<L2Entry?> FetchLargeAsync(string key, long trackedVersion, long ttl, bool sync, CancellationToken token)
    {
        RedisKey redisKey = _prefix.Append(key);
        var large = (await _large!.GetAsync(sync, token).ConfigureAwait(false)).GetDatabase();
        var fields = sync ? large.HashGet(redisKey, EntryFields, MasterOnly) : await large.HashGetAsync(redisKey, EntryFields, MasterOnly).ConfigureAwait(false);
        if (fields[2].IsNull)
        {
            return null;
        }

        var fetchedVersion = Version(fields[3]);
        var entry = Entry(
            key,
            fields[0], fields[1], fields[2], fetchedVersion, fetchedVersion == trackedVersion ? RedisTtl.FromPttl(ttl) : RedisTtl.Unknown, fields[4]);
        _largeKeys.Saw(key, entry.Data.Length, _largeThreshold);
        return entry;
    }

    // A sliding entry just read: renewed when its time to live is more than the tolerance short of its window; null when it is
    // past its absolute expiration. A renewal that finds another version (or none) leaves the value as read, not to be kept.
    private async ValueTask<L2Entry?> RenewIfDueAsync(string key, L2Entry entry, bool tracked, long nowTicks, bool sync, CancellationToken token)
    {
        var window = entry.Expiration.TtlMilliseconds(nowTicks);
        if (window == 0)
        {
            return null;
        }

        var toleranceMs = EntryExpiration.ToleranceTicks(entry.Expiration.SlidingTicks, _slidingTolerance) / TimeSpan.TicksPerMillisecond;
        if (entry.Ttl is { IsKnown: true, IsNone: false } ttl && window - ttl.Milliseconds <= toleranceMs)
        {
            return entry;
        }

        var renewed = await RenewAsync(key, entry.Version, register: false, tracked, nowTicks, sync, token).ConfigureAwait(false);
        return entry with { Ttl = renewed.Status == RenewalStatus.Renewed ? renewed.Ttl : RedisTtl.Unknown };
    }

    private L2Entry Entry(string key, RedisValue absolute, RedisValue sliding, RedisValue data, long version, RedisTtl ttl, RedisValue encoding) => new(
        _codec.Decode(RedisKeyName(key), (byte[]?)data ?? throw new L2PayloadException("The data field is missing."), (string?)encoding),
        new EntryExpiration(ParseTicks(absolute, "absexp"), ParseTicks(sliding, "sldexp")),
        version,
        ttl);

    // The entry's key name in Redis, which encryption binds into each payload.
    private string RedisKeyName(string key) => _instanceName + key;

    private static long Version(RedisValue field) => field.IsNull ? 0 : ParseLong(field, "ver");

    public async ValueTask<L2WriteResult> SetAsync(
        string key, byte[] value, EntryExpiration expiration, long ttlMilliseconds, long ackId, bool hold, bool sync, CancellationToken token)
    {
        var deadline = await DeadlineAsync(sync, token).ConfigureAwait(false);
        var (write, payload) = await EntryWriteAsync(key, value, expiration, ttlMilliseconds, ackId, hold).ConfigureAwait(false);
        return await WriteAsync(SetScript.Text, key, SetScript.Arguments(deadline, write), write.MessageSuffix, sync, token, payload).ConfigureAwait(false)
            ?? throw new RedisException("The write script reported a superseded write, which only a replay can be.");
    }

    public async ValueTask<L2WriteResult> RemoveAsync(string key, long ackId, bool sync, CancellationToken token)
    {
        _largeKeys.Forget(key);
        var deadline = await DeadlineAsync(sync, token).ConfigureAwait(false);
        await _inboxes.EnsureInboxAsync(key).ConfigureAwait(false);
        var (inboxPrefix, publish) = _inboxes.InboxPrefixFor(key);
        var suffix = InvalidationMessage.InvalidationSuffix(ackId, key);
        var args = RemoveScript.Arguments(deadline, _origin, inboxPrefix, _messagePrefix, suffix, publish, _inboxes.OwnInboxFor(key));
        return await WriteAsync(RemoveScript.Text, key, args, suffix, sync, token).ConfigureAwait(false)
            ?? throw new RedisException("The remove script reported a superseded write, which only a replay can be.");
    }

    public async ValueTask<L2WriteResult?> ReplayAsync(ReplayedWrite write, long ttlMilliseconds, bool sync, CancellationToken token)
    {
        var deadline = await DeadlineAsync(sync, token).ConfigureAwait(false);
        var (entry, payload) = await EntryWriteAsync(write.Key, write.Value, write.Expiration, ttlMilliseconds, ackId: 0, hold: true).ConfigureAwait(false);
        var args = ReplayScript.Arguments(deadline, write.BaseVersion, entry);
        return await WriteAsync(ReplayScript.Text, write.Key, args, entry.MessageSuffix, sync, token, payload).ConfigureAwait(false);
    }

    public async ValueTask<L2WriteResult[]?> WriteManyAsync(IReadOnlyList<KeyChange> changes, VersionGuard? guard, long ackId, bool sync, CancellationToken token)
    {
        var deadline = await DeadlineAsync(sync, token).ConfigureAwait(false);
        var first = changes[0].Key;
        await _inboxes.EnsureInboxAsync(first).ConfigureAwait(false);
        var writes = new (EntryWrite Write, byte[]? Upload)[changes.Count];
        for (var i = 0; i < changes.Count; i++)
        {
            var change = changes[i];
            if (change.Value is { } value)
            {
                writes[i] = await EntryWriteAsync(change.Key, value, change.Expiration, change.TtlMilliseconds, ackId, change.Hold).ConfigureAwait(false);
            }
            else
            {
                _largeKeys.Forget(change.Key);
                writes[i] = (Removal(change.Key, ackId), null);
            }
        }

        var guardIndex = guard is { } g ? 1 + IndexOf(changes, g.Key) : 0;
        var args = new RedisValue[WriteManyScript.ArgumentCount(changes.Count)];
        WriteManyScript.Arguments(deadline, guardIndex, guard?.Version ?? 0, changes.Count, writes[0].Write).CopyTo(args, 0);
        var keys = new RedisKey[changes.Count * 3];
        var anyLarge = writes.Any(w => w.Upload is not null);
        using var lease = _durable is null ? (DurableWriteConnections.Lease?)null : await _durable.LeaseAsync(sync, token).ConfigureAwait(false);
        var on = lease?.Multiplexer ?? (anyLarge && _large is not null ? await _large.GetAsync(sync, token).ConfigureAwait(false) : null);
        for (var i = 0; i < changes.Count; i++)
        {
            var key = changes[i].Key;
            var staging = writes[i].Upload is { } upload ? await UploadAsync(on, key, upload, sync, token).ConfigureAwait(false) : (RedisKey?)null;
            WriteManyScript.SetChange(args, i, changes[i].Value is null, writes[i].Write, staging is not null);
            keys[3 * i] = _prefix.Append(key);
            keys[(3 * i) + 1] = HolderRegistryKey.For(_instanceName, key);
            keys[(3 * i) + 2] = staging ?? keys[3 * i];
        }

        var reply = WriteManyReply.Parse(await EvaluateListeningAsync(WriteManyScript.Text, first, keys, args, sync, token, on).ConfigureAwait(false));
        if (reply.Status != WriteStatus.Written)
        {
            return await WrittenAsync(new WriteReply(reply.Status, 0, 0, []), string.Empty, sync).ConfigureAwait(false) is null
                ? null
                : throw new RedisException("The multi-key write script answered without its changes.");
        }

        var results = new L2WriteResult[changes.Count];
        for (var i = 0; i < changes.Count; i++)
        {
            var written = (await WrittenAsync(reply.Changes[i], writes[i].Write.MessageSuffix, sync).ConfigureAwait(false))!.Value;
            results[i] = on is null ? written : written with { KeepCopy = false };
        }

        if (lease is { } leased)
        {
            var waitMs = Math.Max(1, _writeWindowMs / 2);
            var confirmed = await WaitForReplicasAsync(leased.Multiplexer, first, waitMs, sync).ConfigureAwait(false);
            if (confirmed < _minReplicas)
            {
                throw new ReplicasNotConfirmedException($"{confirmed} of {_minReplicas} replicas confirmed the write within {waitMs} ms; it may be on the master only.");
            }
        }

        return results;
    }

    private static int IndexOf(IReadOnlyList<KeyChange> changes, string key)
    {
        for (var i = 0; i < changes.Count; i++)
        {
            if (changes[i].Key == key)
            {
                return i;
            }
        }

        throw new ArgumentException("The guard's key must be one of the changes.", nameof(changes));
    }

    // The arguments of a removal within a multi-key write: only the invalidation's suffix and the shared fields matter.
    private EntryWrite Removal(string key, long ackId)
    {
        var (inboxPrefix, publish) = _inboxes.InboxPrefixFor(key);
        return new EntryWrite(
            EntryExpiration.None, EntryExpiration.None, RedisValue.EmptyString, -1, _origin, inboxPrefix, _messagePrefix,
            InvalidationMessage.InvalidationSuffix(ackId, key), _registrationMs, publish, _inboxes.OwnInboxFor(key), RedisValue.EmptyString, Hold: false);
    }

    // The arguments of a write, and the payload to upload first when it is large (null otherwise).
    private async ValueTask<(EntryWrite Write, byte[]? Upload)> EntryWriteAsync(
        string key, byte[] value, EntryExpiration expiration, long ttlMilliseconds, long ackId, bool hold)
    {
        await _inboxes.EnsureInboxAsync(key).ConfigureAwait(false);
        var (inboxPrefix, publish) = _inboxes.InboxPrefixFor(key);
        var (payload, encoding) = _codec.Encode(RedisKeyName(key), value);
        var large = IsLargeValue(key, payload);
        var write = new EntryWrite(
            expiration.AbsoluteTicks, expiration.SlidingTicks, large ? RedisValue.EmptyString : payload, ttlMilliseconds, _origin, inboxPrefix,
            _messagePrefix, InvalidationMessage.InvalidationSuffix(ackId, key), _registrationMs, publish, _inboxes.OwnInboxFor(key), encoding, hold);
        return (write, large ? payload : null);
    }

    // Whether a value is large (see CacheeOptions.LargeValueThreshold); what this instance last saw of the key is noted.
    private bool IsLargeValue(string key, byte[] value)
    {
        _largeKeys.Saw(key, value.Length, _largeThreshold);
        return value.Length >= _largeThreshold;
    }

    // A write script: on the shared connection, or, when writes wait for replicas, on a leased connection of its own, where
    // WAIT then blocks only that connection. A write confirmed by too few replicas in time fails (it may be on the master);
    // the writer keeps no copy of an acknowledged write, since its own connection did not read it back (no tracking there).
    // A large value (largeValue not null) is uploaded first to a key of its own (see LuaParts.Write), and both the
    // upload and the script go over a large-value connection when there are some, so that the value never holds up the
    // shared one; the writer then keeps no copy either (that connection is not tracked), and reads it next over such a
    // connection too.
    // Returns null for a replay Redis found superseded.
    private async ValueTask<L2WriteResult?> WriteAsync(
        ScriptText script, string key, RedisValue[] args, string invalidationSuffix, bool sync, CancellationToken token, byte[]? largeValue = null)
    {
        if (_durable is null)
        {
            var on = largeValue is not null && _large is not null ? await _large.GetAsync(sync, token).ConfigureAwait(false) : null;
            var staging = largeValue is null ? (RedisKey?)null : await UploadAsync(on, key, largeValue, sync, token).ConfigureAwait(false);
            var result = await WrittenAsync(
                await EvaluateListeningAsync(script, key, args, sync, token, on, staging).ConfigureAwait(false), invalidationSuffix, sync).ConfigureAwait(false);
            return on is null || result is null ? result : result.Value with { KeepCopy = false };
        }

        using var lease = await _durable.LeaseAsync(sync, token).ConfigureAwait(false);
        var uploaded = largeValue is null ? (RedisKey?)null : await UploadAsync(lease.Multiplexer, key, largeValue, sync, token).ConfigureAwait(false);
        var reply = await EvaluateListeningAsync(script, key, args, sync, token, lease.Multiplexer, uploaded).ConfigureAwait(false);
        if (await WrittenAsync(reply, invalidationSuffix, sync).ConfigureAwait(false) is not { } written)
        {
            return null;
        }

        var waitMs = Math.Max(1, _writeWindowMs / 2);
        var confirmed = await WaitForReplicasAsync(lease.Multiplexer, key, waitMs, sync).ConfigureAwait(false);
        return confirmed >= _minReplicas
            ? written with { KeepCopy = false }
            : throw new ReplicasNotConfirmedException($"{confirmed} of {_minReplicas} replicas confirmed the write within {waitMs} ms; it may be on the master only.");
    }

    // Uploads a large value as the data field of a key of its own in the entry's slot, which the write script then moves into
    // the entry. It expires by itself if the script never runs (the script deletes it when it finds the write late or
    // superseded). Sent without waiting for the reply: the script follows on the same connection, so Redis runs it after the
    // upload (one round trip for both); if the upload failed, the script finds nothing to move and the write fails.
    private async ValueTask<RedisKey> UploadAsync(IConnectionMultiplexer? on, string key, byte[] value, bool sync, CancellationToken token)
    {
        token.ThrowIfCancellationRequested();
        var database = (on ?? await _connection.GetAsync(sync, token).ConfigureAwait(false)).GetDatabase();
        var staging = HolderRegistryKey.StagingFor(_instanceName, key, _origin + ":" + Interlocked.Increment(ref _uploads).ToString(CultureInfo.InvariantCulture));
        _ = database.HashSet(staging, "data", value, flags: CommandFlags.FireAndForget);
        _ = database.KeyExpire(staging, UploadLifetime, CommandFlags.FireAndForget);
        return staging;
    }

    // WAIT on the connection to the node that ran the write. That is the node the multiplexer sends the key to, unless the
    // slot just moved (a failover): the multiplexer followed Redis' MOVED reply for the script but may not know the new layout
    // yet, and would send WAIT to the old master, now a replica, which refuses it. It then learns the layout, and WAIT goes
    // to the new master, over the connection that ran the script. Any other refusal counts as no replica confirming.
    private async ValueTask<long> WaitForReplicasAsync(ConnectionMultiplexer multiplexer, string key, long waitMs, bool sync)
    {
        for (var attempt = 0; ; attempt++)
        {
            var server = multiplexer.GetServer(_prefix.Append(key));
            try
            {
                return (long)(sync
                    ? server.Execute("WAIT", _minReplicas, waitMs)
                    : await server.ExecuteAsync("WAIT", _minReplicas, waitMs).ConfigureAwait(false));
            }
            catch (RedisServerException) when (attempt == 0)
            {
                if (sync)
                {
                    _ = multiplexer.Configure();
                }
                else
                {
                    _ = await multiplexer.ConfigureAsync().ConfigureAwait(false);
                }
            }
            catch (RedisServerException ex)
            {
                throw new ReplicasNotConfirmedException($"The server refused to wait for replicas: {ex.Message}");
            }
        }
    }

    // A write script, run again if Redis found this instance not listening on its channel of the key's slot on that node (a
    // cluster slot moved): nothing was written, so subscribing where the slot is now and trying again is safe. The first retry
    // keeps a subscription the multiplexer has already moved there (it may just not have landed when the script ran); the
    // second subscribes again regardless.
    private async ValueTask<WriteReply> EvaluateListeningAsync(
        ScriptText script, string key, RedisValue[] args, bool sync, CancellationToken token, IConnectionMultiplexer? on = null, RedisKey? uploaded = null) =>
        WriteReply.Parse(await EvaluateListeningAsync(script, key, KeysOf(key, uploaded), args, sync, token, on).ConfigureAwait(false));

    private async ValueTask<RedisResult> EvaluateListeningAsync(
        ScriptText script, string key, RedisKey[] keys, RedisValue[] args, bool sync, CancellationToken token, IConnectionMultiplexer? on)
    {
        var result = await EvaluateAsync(script, keys, args, sync, token, on).ConfigureAwait(false);
        for (var attempt = 0; attempt < 2; attempt++)
        {
            if (!IsNotListening(result))
            {
                return result;
            }

            await _inboxes.ResubscribeAsync(key, force: attempt == 1).ConfigureAwait(false);
            result = await EvaluateAsync(script, keys, args, sync, token, on).ConfigureAwait(false);
        }

        return !IsNotListening(result)
            ? result
            : throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, "This instance could not listen where the key's cluster slot is served.");
    }

    private static bool IsNotListening(RedisResult result) => (RedisResult[]?)result is [var status] && (string?)status == "not-listening";

    private RedisKey[] KeysOf(string key, RedisKey? uploaded) => uploaded is { } staging
        ? [_prefix.Append(key), HolderRegistryKey.For(_instanceName, key), staging]
        : [_prefix.Append(key), HolderRegistryKey.For(_instanceName, key)];

    // A write script's reply as a result (null: a superseded replay); on a cluster, the holders it did not reach on the key's
    // shard are then told on their home inbox (see LuaParts.Notify), and those that heard it there are waited for too.
    private async ValueTask<L2WriteResult?> WrittenAsync(WriteReply reply, string invalidationSuffix, bool sync)
    {
        switch (reply.Status)
        {
            case WriteStatus.Superseded:
                return null;
            case WriteStatus.Late:
                // Redis' clock may have been misjudged: measure it again before the next write.
                Volatile.Write(ref _clockMeasured, 0);
                throw new TimeoutException("The write reached Redis after its deadline and was not applied.");
            case WriteStatus.UploadMissing:
                throw new TimeoutException("The large value uploaded for the write was gone when the write ran; it was not applied.");
            case WriteStatus.Written:
                var written = new L2WriteResult(reply.Version, reply.Receivers);
                return reply.Unreached is { Length: > 0 } unreached
                    ? written with { Receivers = written.Receivers + await NotifyAtHomeAsync(unreached, written.Version, invalidationSuffix, sync).ConfigureAwait(false) }
                    : written;
            default:
                throw new RedisException($"The write script answered {reply.Status}.");
        }
    }

    // Publishes the invalidation on each holder's home inbox; returns how many heard it (a holder that is gone hears nothing,
    // and a home node that cannot be reached now counts as nobody to wait for).
    private async ValueTask<long> NotifyAtHomeAsync(string[] holders, long version, string invalidationSuffix, bool sync)
    {
        var subscriber = (await _connection.GetAsync(sync, CancellationToken.None).ConfigureAwait(false)).GetSubscriber();
        RedisValue message = string.Concat(_messagePrefix, version.ToString(CultureInfo.InvariantCulture), invalidationSuffix);
        long heard = 0;
        foreach (var holder in holders)
        {
            var inbox = _inboxes.HomeInboxOf(holder);
            try
            {
                heard += sync ? subscriber.Publish(inbox, message) : await subscriber.PublishAsync(inbox, message).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // That holder's home node is not reachable now.
            }
        }

        return heard;
    }

    // The deadline of a write sent now, in Unix milliseconds by Redis' clock (whose offset from ours is measured with TIME
    // on the first write, and again after a rejected one).
    // The deadline counts from the moment the write was asked for, not from the end of a clock measurement: a TIME held up by
    // a paused server completes long after the caller gave up, and a deadline taken then would let the write land late.
    // A measurement whose round trip was slow says little about the clocks and is not kept (the next write measures again).
    private async ValueTask<long> DeadlineAsync(bool sync, CancellationToken token)
    {
        var askedAt = LocalMilliseconds();
        if (Volatile.Read(ref _clockMeasured) == 0)
        {
            var multiplexer = await _connection.GetAsync(sync, token).ConfigureAwait(false);
            var database = multiplexer.GetDatabase();
            var before = LocalMilliseconds();
            var time = (RedisResult[])(sync ? database.Execute("TIME") : await database.ExecuteAsync("TIME").ConfigureAwait(false))!;
            var after = LocalMilliseconds();
            if (after - before <= MaxClockProbeMilliseconds)
            {
                var redisMilliseconds = (long.Parse((string)time[0]!, CultureInfo.InvariantCulture) * 1000)
                    + (long.Parse((string)time[1]!, CultureInfo.InvariantCulture) / 1000);
                Volatile.Write(ref _clockOffsetMs, redisMilliseconds - ((before + after) / 2));
                Volatile.Write(ref _clockMeasured, 1);
            }
        }

        return askedAt + Volatile.Read(ref _clockOffsetMs) + _writeWindowMs;
    }

    private const long MaxClockProbeMilliseconds = 100;

    private static long LocalMilliseconds() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public async ValueTask<Renewal> RefreshAsync(string key, long? expectedVersion, bool register, long nowTicks, bool sync, CancellationToken token)
    {
        if (register)
        {
            await _inboxes.EnsureInboxAsync(key).ConfigureAwait(false);
        }

        return await RenewAsync(key, expectedVersion, register, tracked: register, nowTicks, sync, token).ConfigureAwait(false);
    }

    // The refresh script reads the entry: a renewal for no copy of this instance goes where Redis does not track that read.
    // One for a copy (tracked) stays on the shared connection, whose NOLOOP keeps Redis from reporting the renewal back here.
    private async ValueTask<Renewal> RenewAsync(
        string key, long? expectedVersion, bool register, bool tracked, long nowTicks, bool sync, CancellationToken token)
    {
        var on = tracked || _untracked is null ? null : await _untracked.GetAsync(sync, token).ConfigureAwait(false);
        var args = RefreshScript.Arguments(nowTicks, expectedVersion, register ? _origin : null, _registrationMs, _slidingTolerance);
        return RefreshScript.Parse(await EvaluateAsync(RefreshScript.Text, KeysOf(key, null), args, sync, token, on).ConfigureAwait(false));
    }

    // Sends EVALSHA (the script's hash, not its text); a server that does not know the script yet (first use, restart,
    // failover) answers NOSCRIPT, and the script is then sent once with EVAL, which also caches it there.
    private async ValueTask<RedisResult> EvaluateAsync(
        ScriptText script, RedisKey[] keys, RedisValue[] args, bool sync, CancellationToken token, IConnectionMultiplexer? on = null)
    {
        token.ThrowIfCancellationRequested();
        var multiplexer = on ?? await _connection.GetAsync(sync, token).ConfigureAwait(false);
        var database = multiplexer.GetDatabase();
        var hash = script.Hash;
        try
        {
            return sync
                ? database.ScriptEvaluate(hash, keys, args)
                : await database.ScriptEvaluateAsync(hash, keys, args).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("READONLY", StringComparison.Ordinal))
        {
            // Sent to a node that is a replica now (a graceful cluster failover): the multiplexers learn the new layout.
            _topology.LayoutMayHaveChanged();
            if (on is ConnectionMultiplexer own && _topology.IsCluster)
            {
                _ = own.ConfigureAsync().ContinueWith(
                    static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }

            throw;
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            return sync
                ? database.ScriptEvaluate(script.Lua, keys, args)
                : await database.ScriptEvaluateAsync(script.Lua, keys, args).ConfigureAwait(false);
        }
    }

    private static long ParseTicks(RedisValue field, string name)
    {
        var ticks = ParseLong(field, name);
        return ticks is EntryExpiration.None or > 0 ? ticks : throw new L2PayloadException($"The {name} field holds {ticks}.");
    }

    private static long ParseLong(RedisValue field, string name) =>
        !field.IsNull && long.TryParse((string?)field, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new L2PayloadException($"The {name} field is not a number.");
}
