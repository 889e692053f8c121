using System.Collections.Frozen;

namespace Cachee.Sessions.Redis;

/// <summary>
/// The Lua scripts of the Redis store. The hash layout is RedisCache's (<c>absexp</c>, <c>sldexp</c>, <c>data</c>) plus a
/// <c>ver</c> field of our own that Redis increments on every Cachee write, so versions never depend on instance clocks.
/// Beside each entry, a set (its holder registry) names the instances that read it since its last change; each change
/// publishes its invalidation to those instances only, inside the same script, so that each holder hears a key's changes
/// in change order.
/// Ticks are compared as Lua doubles: the precision lost (about 13 µs at today's dates) is far below Redis' 1 ms TTL unit.
/// </summary>
internal static class RedisScripts
{
    // SHA-1 is what Redis names scripts by; nothing here is a security use.
#pragma warning disable CA5350
    private static readonly FrozenDictionary<string, byte[]> Hashes =
        new[] { Set, Remove, Refresh, Replay, ReadRegistered, AckOnKeyNode }.ToFrozenDictionary(
            script => script,
            script => System.Security.Cryptography.SHA1.HashData(System.Text.Encoding.UTF8.GetBytes(script)),
            StringComparer.Ordinal);
#pragma warning restore CA5350

    /// <summary>The SHA-1 of one of the scripts below, as EVALSHA wants it (computed once).</summary>
    public static byte[] HashOf(string script) => Hashes[script];

    // Used by Refresh: renews a sliding entry the way RedisCache does (window capped by the absolute expiration).
    // r[1] = absexp, r[2] = sldexp; ARGV[1] = now in UTC ticks. Returns -1 when the entry is past its absolute expiration
    // (deleted), 1 when the renewed expiry is the absolute expiration (no later renewal can move it), 0 otherwise.
    private const string RenewSliding = """
        local function renew(key, r, now)
          local sld = tonumber(r[2])
          if not sld or sld <= 0 then return 0 end
          local ttl = sld
          local final = 0
          local abs = tonumber(r[1])
          if abs and abs > 0 and abs - now <= ttl then
            ttl = abs - now
            final = 1
          end
          ttl = math.floor(ttl / 10000)
          if ttl <= 0 then
            redis.call('DEL', key)
            return -1
          end
          redis.call('PEXPIRE', key, ttl)
          return final
        end

        """;

    // Rejects a write that reaches Redis after its deadline (ARGV[1], Unix ms by Redis' clock; '' for none): the writer
    // has stopped waiting and reported a failure, so the write must not take effect late (for example after a pause). A
    // large value uploaded for it (KEYS[3], see WriteEntry) is deleted.
    private const string CheckDeadline = """
        if ARGV[1] ~= '' then
          local t = redis.call('TIME')
          if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[1]) then
            if KEYS[3] then redis.call('DEL', KEYS[3]) end
            return {-1, 0}
          end
        end

        """;

    // Tells the holders of a copy (the members of the registry KEYS[2], each added by its own read) that the entry changed:
    // the registry is emptied (SPOP: a write command, so the writer's connection does not start tracking the registry) and
    // msgPrefix .. version .. msgSuffix is published on each holder's own channel (chanPrefix .. holder id), except the
    // writer's, with cmd: PUBLISH, or SPUBLISH on a cluster (the channel prefix then carries a tag of the key's slot).
    // Returns how many subscribers received it (the holders whose acknowledgement the writer waits for), and, on a cluster,
    // the holders that did not listen here: the slot came here (a move, a failover) before they followed it, and a copy they
    // still hold is revoked only by tracking on the node it left, whose message may not have been handled yet; the writer
    // tells them on their home inbox (see RedisInvalidationBus.HomeInboxOf).
    private const string NotifyHolders = Listening + """
        local function notify(me, chanPrefix, msg, cmd)
          local n = 0
          local missed = {}
          for _, h in ipairs(redis.call('SPOP', KEYS[2], 1000000)) do
            if h ~= me then
              local reached = redis.call(cmd, chanPrefix .. h, msg)
              if reached == 0 and cmd == 'SPUBLISH' then missed[#missed + 1] = h end
              n = n + reached
            end
          end
          return n, missed
        end

        """;

    // On a cluster: whether the caller listens, on this node, on its own sharded channel of this slot (chan; '' elsewhere).
    // A write by a caller that does not would lose the holders' acknowledgements, and a read would register a holder that
    // this node's writers cannot reach: both are refused (the caller subscribes where the slot is now, and tries again).
    private const string Listening = """
        local function listening(chan)
          return chan == '' or redis.call('PUBSUB', 'SHARDNUMSUB', chan)[2] > 0
        end

        """;

    // Writes the entry (ARGV[a..a+3] = absexp, sldexp, data, ttl ms), notifies its holders (ARGV[a+4] = writer id,
    // ARGV[a+5] = channel prefix, message = ARGV[a+6] .. version .. ARGV[a+7]) and registers the writer, which keeps a copy,
    // as the first holder of the new version (ARGV[a+8] = registration lifetime, ms; ARGV[a+9] = publish command;
    // ARGV[a+10] = the writer's own channel on a cluster, see Listening; ARGV[a+11] = the payload's encoding, '' for plain, see
    // PayloadCompression: stored in the enc field, or that field removed). The version is read back last, so that
    // the writer's connection tracks the key (CLIENT TRACKING): a read before the change would be consumed by the change itself.
    // A large value does not come through ARGV (Lua copies an argument: 3 ms of Redis' time for 2 MB, against 0.2 ms for a
    // plain HSET): it was uploaded beforehand as the data field of KEYS[3], a key of the entry's slot, which then replaces
    // the entry (RENAME) and receives its other fields. Returns {new version, holders notified, holders not
    // reached (see NotifyHolders)}, or {-4, 0} when the upload is missing.
    private const string WriteEntry = NotifyHolders + """
        local function write(a)
          if not listening(ARGV[a + 10]) then return {-3, 0} end
          if KEYS[3] then
            if redis.call('EXISTS', KEYS[3]) == 0 then return {-4, 0} end
            local cur = tonumber(redis.call('HGET', KEYS[1], 'ver')) or 0
            redis.call('RENAME', KEYS[3], KEYS[1])
            redis.call('HSET', KEYS[1], 'ver', cur + 1, 'absexp', ARGV[a], 'sldexp', ARGV[a + 1])
          else
            redis.call('HINCRBY', KEYS[1], 'ver', 1)
            redis.call('HSET', KEYS[1], 'absexp', ARGV[a], 'sldexp', ARGV[a + 1], 'data', ARGV[a + 2])
          end
          if ARGV[a + 11] ~= '' then redis.call('HSET', KEYS[1], 'enc', ARGV[a + 11]) else redis.call('HDEL', KEYS[1], 'enc') end
          local ttl = tonumber(ARGV[a + 3])
          if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
          local v = redis.call('HGET', KEYS[1], 'ver')
          local n, missed = notify(ARGV[a + 4], ARGV[a + 5], ARGV[a + 6] .. v .. ARGV[a + 7], ARGV[a + 9])
          redis.call('SADD', KEYS[2], ARGV[a + 4])
          redis.call('PEXPIRE', KEYS[2], ARGV[a + 8])
          return {tonumber(v), n, missed}
        end

        """;

    /// <summary>
    /// KEYS[1] = key, KEYS[2] = its holder registry, KEYS[3] (a large value only) = the key its data was uploaded to (data
    /// in ARGV is then empty); ARGV = deadline, absexp, sldexp, data, ttl ms (-1: none), writer id,
    /// channel prefix, message prefix, message suffix, registration lifetime ms, publish command, the writer's own channel ('' but
    /// on a cluster), the payload's encoding ('' for plain). Returns {new version, holders notified, holders not reached (on a
    /// cluster)}, {-1, 0} when past the deadline, or {-3, 0} when the writer does not listen on this node.
    /// </summary>
    public const string Set = CheckDeadline + WriteEntry + """
        return write(2)
        """;

    /// <summary>
    /// A queued write replayed once Redis is back: applied only if the entry's version is still the one the write was based
    /// on (0: no entry), so that newer data is never overwritten, and only before its deadline, as <see cref="Set"/> is (an
    /// attempt the replayer gave up on must not land later and make its next attempt look superseded).
    /// KEYS as <see cref="Set"/>; ARGV = deadline, base version, then as <see cref="Set"/> from absexp on. Returns as
    /// <see cref="Set"/>, {-1, 0} when past the deadline, or {-2, 0} when Redis holds another version.
    /// </summary>
    public const string Replay = CheckDeadline + WriteEntry + """
        local cur = redis.pcall('HGET', KEYS[1], 'ver')
        if type(cur) ~= 'string' then cur = '0' end
        if cur ~= ARGV[2] then
          if KEYS[3] then redis.call('DEL', KEYS[3]) end
          return {-2, 0}
        end
        return write(3)
        """;

    /// <summary>
    /// KEYS as <see cref="Set"/>; ARGV = deadline, writer id, channel prefix, message prefix, message suffix, publish command,
    /// the writer's own channel ('' but on a cluster; {-3, 0} when it does not listen on this node). Deletes the
    /// entry and its registry and notifies the holders. Returns {version published, holders notified, holders not reached (on
    /// a cluster)}, or {-1, 0} when past the deadline.
    /// </summary>
    public const string Remove = CheckDeadline + NotifyHolders + """
        if not listening(ARGV[7]) then return {-3, 0} end
        local cur = redis.pcall('HGET', KEYS[1], 'ver')
        if type(cur) ~= 'string' then cur = '0' end
        local v = (tonumber(cur) or 0) + 1
        redis.call('DEL', KEYS[1])
        local n, missed = notify(ARGV[2], ARGV[3], ARGV[4] .. v .. ARGV[5], ARGV[6])
        return {v, n, missed}
        """;

    /// <summary>
    /// KEYS[1] = key, KEYS[2] = its holder registry; ARGV[1] = now ticks, ARGV[2] = expected version or '', ARGV[3] = the id
    /// of a holder whose copy the renewal keeps (registered again, as a read registers it) or '', ARGV[4] = registration
    /// lifetime ms. Returns {new PTTL (-1: no expiry), 1 when that is the absolute expiration or else 0}, {-2, 0} when
    /// missing, {-3, 0} when the version differs.
    /// </summary>
    public const string Refresh = RenewSliding + """
        local r = redis.call('HMGET', KEYS[1], 'absexp', 'sldexp', 'ver')
        if not r[2] then return {-2, 0} end
        if ARGV[2] ~= '' and (r[3] or '0') ~= ARGV[2] then return {-3, 0} end
        local renewed = renew(KEYS[1], r, tonumber(ARGV[1]))
        if renewed < 0 then return {-2, 0} end
        if ARGV[3] ~= '' then
          redis.call('SADD', KEYS[2], ARGV[3])
          redis.call('PEXPIRE', KEYS[2], ARGV[4])
        end
        return {redis.call('PTTL', KEYS[1]), renewed}
        """;

    /// <summary>
    /// A read that registers its caller as a holder, on a cluster (elsewhere plain commands do it): the registration only if
    /// the caller listens on this node (see Listening), then the fields and the time to live.
    /// KEYS[1] = key, KEYS[2] = its holder registry; ARGV = caller id, registration lifetime ms, the caller's own channel, '1'
    /// for a key last seen large (the data's length comes back instead of the data, which is then fetched over a large-value
    /// connection, never copied through Lua) or ''.
    /// Returns {absexp, sldexp, data (or its length, 0: none), ver, PTTL, 1 when registered else 0, enc}.
    /// </summary>
    public const string ReadRegistered = Listening + """
        local registered = 0
        if listening(ARGV[3]) then
          redis.call('SADD', KEYS[2], ARGV[1])
          redis.call('PEXPIRE', KEYS[2], ARGV[2])
          registered = 1
        end
        if ARGV[4] == '1' then
          local m = redis.call('HMGET', KEYS[1], 'absexp', 'sldexp', 'ver', 'enc')
          return {m[1], m[2], redis.call('HSTRLEN', KEYS[1], 'data'), m[3], redis.call('PTTL', KEYS[1]), registered, m[4]}
        end
        local r = redis.call('HMGET', KEYS[1], 'absexp', 'sldexp', 'data', 'ver', 'enc')
        return {r[1], r[2], r[3], r[4], redis.call('PTTL', KEYS[1]), registered, r[5]}
        """;

    /// <summary>
    /// An acknowledgement on a cluster, sent from the node that holds the key (KEYS[1], for routing only): the writer listened
    /// there on its channel of the key's slot when it wrote (ARGV[1]; ARGV[2] is the message). A plain SPUBLISH would go where
    /// the acknowledging instance's map of the slots says, which lags while a slot moves. Returns how many heard it (0: the
    /// key was moving, see RedisInvalidationBus.AckOnClusterAsync).
    /// </summary>
    public const string AckOnKeyNode = """
        return redis.call('SPUBLISH', ARGV[1], ARGV[2])
        """;
}
