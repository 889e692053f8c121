using StackExchange.Redis;

namespace Cachee.Sessions.Redis.Scripts;

/// <summary>
/// On a cluster, a read that registers its caller as a holder only if the caller listens on this node (elsewhere plain
/// commands do it), then reads the fields and the time to live. KEYS: the entry, its holder registry. For a key last seen
/// large, the data's length comes back instead of the data, which is then fetched over a large-value connection. A read
/// that finds no entry leaves the registry.
/// </summary>
internal static class ReadRegisteredScript
{
    public static readonly ScriptText Text = new(LuaParts.Listening + """
        local reader, registrationMs, ownChannel, lengthOnly = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1'
        local registered = 0
        if listening(ownChannel) then
          redis.call('SADD', KEYS[2], reader)
          redis.call('PEXPIRE', KEYS[2], registrationMs)
          registered = 1
        end
        local m = redis.call('HMGET', KEYS[1], 'absexp', 'sldexp', 'ver', 'enc')
        local data
        if lengthOnly then data = redis.call('HSTRLEN', KEYS[1], 'data') else data = redis.call('HGET', KEYS[1], 'data') end
        if registered == 1 and (not data or data == 0) then
          -- Nothing to hold: leave the registry, as a plain read does.
          redis.call('SREM', KEYS[2], reader)
        end
        return {m[1], m[2], data, m[3], redis.call('PTTL', KEYS[1]), registered, m[4]}
        """);

    /// <summary>The arguments, in the order the script names them.</summary>
    public static RedisValue[] Arguments(string reader, long registrationMs, string ownChannel, bool lengthOnly) =>
        [reader, registrationMs, ownChannel, lengthOnly ? "1" : string.Empty];

    /// <summary>Parses {absexp, sldexp, data or its length, ver, pttl, registered, enc}.</summary>
    public static RegisteredRead Parse(RedisResult result) =>
        (RedisResult[]?)result is { Length: 7 } r
            ? new RegisteredRead((RedisValue)r[0], (RedisValue)r[1], (RedisValue)r[2], (RedisValue)r[3], (long)r[4], (long)r[5] == 1, (RedisValue)r[6])
            : throw new RedisException($"Unexpected reply to the registered read: {result?.Resp2Type.ToString() ?? "none"} {result}.");
}

/// <summary>What <see cref="ReadRegisteredScript"/> read.</summary>
/// <param name="Absolute">The <c>absexp</c> field.</param>
/// <param name="Sliding">The <c>sldexp</c> field.</param>
/// <param name="Data">The <c>data</c> field (null: no entry), or its length when only that was asked for (0: no entry).</param>
/// <param name="Version">The <c>ver</c> field.</param>
/// <param name="Pttl">The entry's <c>PTTL</c>.</param>
/// <param name="Registered">Whether the caller was registered as a holder (it listens on this node).</param>
/// <param name="Encoding">The <c>enc</c> field.</param>
internal readonly record struct RegisteredRead(
    RedisValue Absolute, RedisValue Sliding, RedisValue Data, RedisValue Version, long Pttl, bool Registered, RedisValue Encoding);
