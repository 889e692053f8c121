using StackExchange.Redis;

namespace Cachee.Sessions.Redis.Scripts;

/// <summary>
/// Deletes an entry and its registry and tells the holders, with the version after the last one. KEYS: the entry, its holder
/// registry. Replies with a <see cref="WriteReply"/>.
/// </summary>
internal static class RemoveScript
{
    public static readonly ScriptText Text = new(LuaParts.Deadline + LuaParts.Listening + LuaParts.Notify + """
        local deadline, writer, chanPrefix, msgPrefix, msgSuffix, publish, ownChannel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
        if past(deadline, nil) then return {'late'} end
        if not listening(ownChannel) then return {'not-listening'} end
        local cur = redis.pcall('HGET', KEYS[1], 'ver')
        if type(cur) ~= 'string' then cur = '0' end
        local v = (tonumber(cur) or 0) + 1
        redis.call('DEL', KEYS[1])
        local n, missed = notify(KEYS[2], writer, chanPrefix, msgPrefix .. v .. msgSuffix, publish)
        return {'written', v, n, missed}
        """);

    /// <summary>The arguments, in the order the script names them.</summary>
    public static RedisValue[] Arguments(
        long deadline, string writer, string channelPrefix, string messagePrefix, string messageSuffix, string publish, string ownChannel) =>
        [deadline, writer, channelPrefix, messagePrefix, messageSuffix, publish, ownChannel];
}
