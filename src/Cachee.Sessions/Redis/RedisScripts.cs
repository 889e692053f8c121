using System.Collections.Frozen;

namespace Cachee.Sessions.Redis;

/// <summary>
/// The Lua scripts of the Redis store. The hash layout is RedisCache's (<c>absexp</c>, <c>sldexp</c>, <c>data</c>) plus a
/// <c>ver</c> field of our own that Redis increments on every Cachee write, so versions never depend on instance clocks.
/// Each change publishes its invalidation inside the same script, so channel order equals change order.
/// Ticks are compared as Lua doubles: the precision lost (about 13 µs at today's dates) is far below Redis' 1 ms TTL unit.
/// </summary>
internal static class RedisScripts
{
    // SHA-1 is what Redis names scripts by; nothing here is a security use.
#pragma warning disable CA5350
    private static readonly FrozenDictionary<string, byte[]> Hashes =
        new[] { Set, Remove, Refresh, Replay }.ToFrozenDictionary(
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
    // has stopped waiting and reported a failure, so the write must not take effect late (for example after a pause).
    private const string CheckDeadline = """
        if ARGV[1] ~= '' then
          local t = redis.call('TIME')
          if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[1]) then return {-1, 0} end
        end

        """;

    // Writes the entry (ARGV[a..a+3] = absexp, sldexp, data, ttl ms) and publishes ARGV[a+5] .. version .. ARGV[a+6] on
    // ARGV[a+4]. Returns {new version, number of subscribers the invalidation reached}.
    private const string WriteEntry = """
        local function write(key, a)
          local v = redis.call('HINCRBY', key, 'ver', 1)
          redis.call('HSET', key, 'absexp', ARGV[a], 'sldexp', ARGV[a + 1], 'data', ARGV[a + 2])
          local ttl = tonumber(ARGV[a + 3])
          if ttl > 0 then redis.call('PEXPIRE', key, ttl) else redis.call('PERSIST', key) end
          local n = redis.call('PUBLISH', ARGV[a + 4], ARGV[a + 5] .. v .. ARGV[a + 6])
          return {v, n}
        end

        """;

    /// <summary>
    /// KEYS[1] = key; ARGV = deadline, absexp, sldexp, data, ttl ms (-1: none), channel, message prefix, message suffix.
    /// Returns {new version, number of subscribers the invalidation reached}, or {-1, 0} when past the deadline.
    /// </summary>
    public const string Set = CheckDeadline + WriteEntry + """
        return write(KEYS[1], 2)
        """;

    /// <summary>
    /// A queued write replayed once Redis is back: applied only if the entry's version is still the one the write was based
    /// on (0: no entry), so that newer data is never overwritten, and only before its deadline, as <see cref="Set"/> is (an
    /// attempt the replayer gave up on must not land later and make its next attempt look superseded).
    /// KEYS[1] = key; ARGV = deadline, base version, then as <see cref="Set"/> from absexp on. Returns as <see cref="Set"/>,
    /// {-1, 0} when past the deadline, or {-2, 0} when Redis holds another version.
    /// </summary>
    public const string Replay = CheckDeadline + WriteEntry + """
        local cur = redis.pcall('HGET', KEYS[1], 'ver')
        if type(cur) ~= 'string' then cur = '0' end
        if cur ~= ARGV[2] then return {-2, 0} end
        return write(KEYS[1], 3)
        """;

    /// <summary>
    /// KEYS[1] = key; ARGV = deadline, channel, message prefix, message suffix. Returns {version published, subscribers reached},
    /// or {-1, 0} when past the deadline.
    /// </summary>
    public const string Remove = CheckDeadline + """
        local cur = redis.pcall('HGET', KEYS[1], 'ver')
        if type(cur) ~= 'string' then cur = '0' end
        local v = (tonumber(cur) or 0) + 1
        redis.call('DEL', KEYS[1])
        local n = redis.call('PUBLISH', ARGV[2], ARGV[3] .. v .. ARGV[4])
        return {v, n}
        """;

    /// <summary>
    /// KEYS[1] = key; ARGV[1] = now ticks, ARGV[2] = expected version or ''. Returns {new PTTL (-1: no expiry), 1 when that
    /// is the absolute expiration or else 0}, {-2, 0} when missing, {-3, 0} when the version differs.
    /// </summary>
    public const string Refresh = RenewSliding + """
        local r = redis.call('HMGET', KEYS[1], 'absexp', 'sldexp', 'ver')
        if not r[2] then return {-2, 0} end
        if ARGV[2] ~= '' and (r[3] or '0') ~= ARGV[2] then return {-3, 0} end
        local renewed = renew(KEYS[1], r, tonumber(ARGV[1]))
        if renewed < 0 then return {-2, 0} end
        return {redis.call('PTTL', KEYS[1]), renewed}
        """;
}
