using StackExchange.Redis;

namespace Cachee.Sessions.Redis.Scripts;

/// <summary>
/// Writes an entry, tells its holders, registers the writer. KEYS: the entry, its holder registry, and for a large value
/// the key it was uploaded to. Replies with a <see cref="WriteReply"/>.
/// </summary>
internal static class SetScript
{
    public static readonly ScriptText Text = new(LuaParts.Deadline + LuaParts.Write + """
        local deadline = ARGV[1]
        local w = {
          absexp = ARGV[2], sldexp = ARGV[3], data = ARGV[4], ttl = ARGV[5],
          writer = ARGV[6], chanPrefix = ARGV[7], msgPrefix = ARGV[8], msgSuffix = ARGV[9],
          registrationMs = ARGV[10], publish = ARGV[11], ownChannel = ARGV[12], encoding = ARGV[13], hold = ARGV[14],
        }
        if past(deadline, KEYS[3]) then return {'late'} end
        return write(KEYS[1], KEYS[2], KEYS[3], w)
        """);

    /// <summary>The arguments, in the order the script names them.</summary>
    public static RedisValue[] Arguments(long deadline, in EntryWrite write) =>
    [
        deadline, write.AbsoluteTicks, write.SlidingTicks, write.Data, write.TtlMilliseconds,
        write.Writer, write.ChannelPrefix, write.MessagePrefix, write.MessageSuffix, write.RegistrationMs, write.Publish, write.OwnChannel, write.Encoding,
        write.Hold ? "1" : "0",
    ];
}

/// <summary>The part of a write's arguments that <see cref="SetScript"/> and <see cref="ReplayScript"/> share.</summary>
/// <param name="AbsoluteTicks">The <c>absexp</c> field.</param>
/// <param name="SlidingTicks">The <c>sldexp</c> field.</param>
/// <param name="Data">The payload; empty when it was uploaded beforehand (a large value).</param>
/// <param name="TtlMilliseconds">The entry's time to live; -1 for none.</param>
/// <param name="Writer">The writer's instance id.</param>
/// <param name="ChannelPrefix">The prefix of the holders' channels (the holder's id follows).</param>
/// <param name="MessagePrefix">The invalidation message before the version.</param>
/// <param name="MessageSuffix">The invalidation message after the version.</param>
/// <param name="RegistrationMs">How long the writer's registration as a holder lasts.</param>
/// <param name="Publish"><c>PUBLISH</c>, or <c>SPUBLISH</c> on a cluster.</param>
/// <param name="OwnChannel">The writer's own channel in the key's slot on a cluster; empty elsewhere.</param>
/// <param name="Encoding">The payload's encoding; empty for plain.</param>
/// <param name="Hold">Whether the writer keeps a copy: then it is registered as the new version's first holder, and tracked.</param>
internal readonly record struct EntryWrite(
    long AbsoluteTicks, long SlidingTicks, RedisValue Data, long TtlMilliseconds, string Writer, string ChannelPrefix, string MessagePrefix,
    string MessageSuffix, long RegistrationMs, string Publish, string OwnChannel, RedisValue Encoding, bool Hold);
