using StackExchange.Redis;

namespace Cachee.Sessions.Redis.Scripts;

/// <summary>
/// A write queued while Redis was unreachable, applied only if the entry is still at the version it was based on (0: no
/// entry), so that newer data is never overwritten, and only before its deadline (an attempt the replayer gave up on must not
/// land later). KEYS as <see cref="SetScript"/>. Replies with a <see cref="WriteReply"/> (<see cref="WriteStatus.Superseded"/>
/// when Redis holds another version).
/// </summary>
internal static class ReplayScript
{
    public static readonly ScriptText Text = new(LuaParts.Deadline + LuaParts.Write + """
        local deadline, baseVersion = ARGV[1], ARGV[2]
        local w = {
          absexp = ARGV[3], sldexp = ARGV[4], data = ARGV[5], ttl = ARGV[6],
          writer = ARGV[7], chanPrefix = ARGV[8], msgPrefix = ARGV[9], msgSuffix = ARGV[10],
          registrationMs = ARGV[11], publish = ARGV[12], ownChannel = ARGV[13], encoding = ARGV[14], hold = ARGV[15],
        }
        if past(deadline, KEYS[3]) then return {'late'} end
        local cur = redis.pcall('HGET', KEYS[1], 'ver')
        if type(cur) ~= 'string' then cur = '0' end
        if cur ~= baseVersion then
          if KEYS[3] then redis.call('DEL', KEYS[3]) end
          return {'superseded'}
        end
        return write(KEYS[1], KEYS[2], KEYS[3], w)
        """);

    /// <summary>The arguments, in the order the script names them.</summary>
    public static RedisValue[] Arguments(long deadline, long baseVersion, in EntryWrite write) =>
    [
        deadline, baseVersion, write.AbsoluteTicks, write.SlidingTicks, write.Data, write.TtlMilliseconds,
        write.Writer, write.ChannelPrefix, write.MessagePrefix, write.MessageSuffix, write.RegistrationMs, write.Publish, write.OwnChannel, write.Encoding,
        write.Hold ? "1" : "0",
    ];
}
