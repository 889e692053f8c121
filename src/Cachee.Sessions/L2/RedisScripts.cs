using System.Collections.Frozen;

namespace Cachee.Sessions.L2;

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
        new[] { Get, Set, Remove, Refresh }.ToFrozenDictionary(
            script => script,
            script => System.Security.Cryptography.SHA1.HashData(System.Text.Encoding.UTF8.GetBytes(script)),
            StringComparer.Ordinal);
#pragma warning restore CA5350

    /// <summary>The SHA-1 of one of the scripts below, as EVALSHA wants it (computed once).</summary>
    public static byte[] HashOf(string script) => Hashes[script];

    // Shared by Get and Refresh: renews a sliding entry the way RedisCache does (window capped by the absolute expiration).
    // r[1] = absexp, r[2] = sldexp; ARGV[1] = now in UTC ticks. Returns false when the entry is past its absolute expiration.
    private const string RenewSliding = """
        local function renew(key, r, now)
          local sld = tonumber(r[2])
          if not sld or sld <= 0 then return true end
          local ttl = sld
          local abs = tonumber(r[1])
          if abs and abs > 0 and abs - now < ttl then ttl = abs - now end
          ttl = math.floor(ttl / 10000)
          if ttl <= 0 then
            redis.call('DEL', key)
            return false
          end
          redis.call('PEXPIRE', key, ttl)
          return true
        end

        """;

    /// <summary>
    /// KEYS[1] = key; ARGV[1] = now ticks, ARGV[2] = '1' to renew a sliding entry, ARGV[3] = a channel to publish ARGV[4] on
    /// ('' for none: the acknowledgement of a prefetch). Returns nil or {absexp, sldexp, data, ver, pttl}.
    /// </summary>
    public const string Get = RenewSliding + """
        if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
        local r = redis.call('HMGET', KEYS[1], 'absexp', 'sldexp', 'data', 'ver')
        if not r[3] then return false end
        if ARGV[2] == '1' and not renew(KEYS[1], r, tonumber(ARGV[1])) then return false end
        r[5] = redis.call('PTTL', KEYS[1])
        return r
        """;

    /// <summary>
    /// KEYS[1] = key; ARGV = absexp, sldexp, data, ttl ms (-1: none), channel, message prefix, message suffix.
    /// Returns {new version, number of subscribers the invalidation reached}.
    /// </summary>
    public const string Set = """
        local v = redis.call('HINCRBY', KEYS[1], 'ver', 1)
        redis.call('HSET', KEYS[1], 'absexp', ARGV[1], 'sldexp', ARGV[2], 'data', ARGV[3])
        local ttl = tonumber(ARGV[4])
        if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
        local n = redis.call('PUBLISH', ARGV[5], ARGV[6] .. v .. ARGV[7])
        return {v, n}
        """;

    /// <summary>KEYS[1] = key; ARGV = channel, message prefix, message suffix. Returns {version published, subscribers reached}.</summary>
    public const string Remove = """
        local cur = redis.pcall('HGET', KEYS[1], 'ver')
        if type(cur) ~= 'string' then cur = '0' end
        local v = (tonumber(cur) or 0) + 1
        redis.call('DEL', KEYS[1])
        local n = redis.call('PUBLISH', ARGV[1], ARGV[2] .. v .. ARGV[3])
        return {v, n}
        """;

    /// <summary>
    /// KEYS[1] = key; ARGV[1] = now ticks, ARGV[2] = expected version or ''. Returns the new PTTL (-1: no expiry),
    /// -2 when missing, -3 when the version differs.
    /// </summary>
    public const string Refresh = RenewSliding + """
        local r = redis.call('HMGET', KEYS[1], 'absexp', 'sldexp', 'ver')
        if not r[2] then return -2 end
        if ARGV[2] ~= '' and (r[3] or '0') ~= ARGV[2] then return -3 end
        if not renew(KEYS[1], r, tonumber(ARGV[1])) then return -2 end
        return redis.call('PTTL', KEYS[1])
        """;
}
