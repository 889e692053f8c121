using Cachee.Sessions.L2;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis.Scripts;

/// <summary>
/// Renews a sliding entry's expiry, only if it is still at the expected version (when one is given); with a holder id, also
/// renews that holder's registration (it keeps its copy). KEYS: the entry, its holder registry. Replies as a <see cref="Renewal"/>.
/// </summary>
internal static class RefreshScript
{
    public static readonly ScriptText Text = new(LuaParts.Renew + """
        local now, expectedVersion, holder, registrationMs, tolerance = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5]
        local r = redis.call('HMGET', KEYS[1], 'absexp', 'sldexp', 'ver')
        if not r[2] then return {'missing'} end
        if expectedVersion ~= '' and (r[3] or '0') ~= expectedVersion then return {'version-changed'} end
        local renewed = renew(KEYS[1], r[1], r[2], now, tolerance)
        if renewed == 'gone' then return {'missing'} end
        if holder ~= '' then
          redis.call('SADD', KEYS[2], holder)
          redis.call('PEXPIRE', KEYS[2], registrationMs)
        end
        return {'renewed', redis.call('PTTL', KEYS[1]), renewed == 'final' and 1 or 0}
        """);

    /// <summary>The arguments, in the order the script names them.</summary>
    /// <param name="nowTicks">Now, in UTC ticks.</param>
    /// <param name="expectedVersion">Renew only at this version (null: any).</param>
    /// <param name="holder">The holder whose registration is renewed too (null: none).</param>
    /// <param name="registrationMs">How long a registration lasts.</param>
    /// <param name="tolerance">The configured <see cref="CacheeOptions.SlidingRefreshTolerance"/> (null: the default).</param>
    public static RedisValue[] Arguments(long nowTicks, long? expectedVersion, string? holder, long registrationMs, TimeSpan? tolerance) =>
    [
        nowTicks, expectedVersion is { } version ? (RedisValue)version : RedisValue.EmptyString, holder ?? string.Empty, registrationMs,
        tolerance is { } configured ? (long)configured.TotalMilliseconds : -1,
    ];

    /// <summary>Parses {'renewed', pttl, final}, {'missing'} or {'version-changed'}.</summary>
    public static Renewal Parse(RedisResult result)
    {
        var reply = (RedisResult[]?)result;
        return reply is [var status, ..] ? (string?)status switch
        {
            "renewed" when reply.Length == 3 => Renewal.Renewed(RedisTtl.FromPttl((long)reply[1]), (long)reply[2] == 1),
            "missing" => Renewal.Missing,
            "version-changed" => Renewal.VersionChanged,
            _ => throw Unexpected(result),
        } : throw Unexpected(result);
    }

    private static RedisException Unexpected(RedisResult? result) =>
        new($"Unexpected reply to the refresh script: {result?.Resp2Type.ToString() ?? "none"} {result}.");
}
