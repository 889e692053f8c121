using StackExchange.Redis;

namespace Cachee.Sessions.Redis.Scripts;

/// <summary>
/// Changes several entries of one slot at once: each is written as <see cref="SetScript"/> writes it or removed as
/// <see cref="RemoveScript"/> removes it, with the same invalidations, and only if the guard entry (when there is one) is
/// still at its version. Nothing is changed unless everything can be: the deadline, the caller's listening, the guard and
/// every upload are checked first. KEYS, per change: the entry, its holder registry, and its upload (the entry again when
/// there is none). Replies with a <see cref="WriteManyReply"/>.
/// </summary>
internal static class WriteManyScript
{
    /// <summary>How many arguments each change takes, after the <see cref="CommonArguments"/> shared ones.</summary>
    public const int ArgumentsPerChange = 9;

    private const int CommonArguments = 10;

    public static readonly ScriptText Text = new(LuaParts.Deadline + LuaParts.Write + """
        local deadline, guard, guardVersion, count = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
        local writer, chanPrefix, msgPrefix, registrationMs, publish, ownChannel = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
        local function arg(i, n) return ARGV[10 + (i - 1) * 9 + n] end
        local function upload(i) if arg(i, 8) == '1' then return KEYS[3 * i] end return nil end
        local function version(key)
          local cur = redis.pcall('HGET', key, 'ver')
          if type(cur) ~= 'string' then return '0' end
          return cur
        end
        local function dropUploads()
          for i = 1, count do local u = upload(i) if u then redis.call('DEL', u) end end
        end
        if past(deadline, nil) then dropUploads() return {'late'} end
        if not listening(ownChannel) then return {'not-listening'} end
        if guard > 0 and version(KEYS[3 * guard - 2]) ~= guardVersion then dropUploads() return {'superseded'} end
        for i = 1, count do
          local u = upload(i)
          if u and redis.call('EXISTS', u) == 0 then dropUploads() return {'upload-missing'} end
        end
        local results = {'written'}
        for i = 1, count do
          local key, registry, suffix = KEYS[3 * i - 2], KEYS[3 * i - 1], arg(i, 6)
          if arg(i, 1) == 'remove' then
            local v = (tonumber(version(key)) or 0) + 1
            redis.call('DEL', key)
            local n, missed = notify(registry, writer, chanPrefix, msgPrefix .. v .. suffix, publish)
            results[#results + 1] = {v, n, missed}
          else
            local r = write(key, registry, upload(i), {
              absexp = arg(i, 2), sldexp = arg(i, 3), data = arg(i, 4), ttl = arg(i, 5),
              writer = writer, chanPrefix = chanPrefix, msgPrefix = msgPrefix, msgSuffix = suffix,
              registrationMs = registrationMs, publish = publish, ownChannel = ownChannel, encoding = arg(i, 7), hold = arg(i, 9),
            })
            results[#results + 1] = {r[2], r[3], r[4]}
          end
        end
        return results
        """);

    /// <summary>The arguments shared by every change, in the order the script names them.</summary>
    public static RedisValue[] Arguments(long deadline, int guardIndex, long guardVersion, int count, in EntryWrite shared) =>
    [
        deadline, guardIndex, guardVersion, count, shared.Writer, shared.ChannelPrefix, shared.MessagePrefix, shared.RegistrationMs, shared.Publish, shared.OwnChannel,
    ];

    /// <summary>Writes one change's arguments at its place in <paramref name="args"/> (change <paramref name="index"/>, from 0).</summary>
    public static void SetChange(RedisValue[] args, int index, bool remove, in EntryWrite write, bool uploaded)
    {
        var at = CommonArguments + (index * ArgumentsPerChange);
        args[at] = remove ? "remove" : "set";
        args[at + 1] = write.AbsoluteTicks;
        args[at + 2] = write.SlidingTicks;
        args[at + 3] = write.Data;
        args[at + 4] = write.TtlMilliseconds;
        args[at + 5] = write.MessageSuffix;
        args[at + 6] = write.Encoding;
        args[at + 7] = uploaded ? "1" : "0";
        args[at + 8] = write.Hold ? "1" : "0";
    }

    /// <summary>The length of the argument array for <paramref name="count"/> changes.</summary>
    public static int ArgumentCount(int count) => CommonArguments + (count * ArgumentsPerChange);
}

/// <summary>The reply of <see cref="WriteManyScript"/>, parsed once.</summary>
/// <param name="Status">What the script did (<see cref="WriteStatus.Superseded"/>: the guard found another version).</param>
/// <param name="Changes">When written, each change's version, holders told and holders not reached, in order.</param>
internal readonly record struct WriteManyReply(WriteStatus Status, WriteReply[] Changes)
{
    /// <summary>Parses {'written', {version, receivers, unreached}…} or {status}; throws <see cref="RedisException"/> on anything else.</summary>
    public static WriteManyReply Parse(RedisResult result)
    {
        var reply = (RedisResult[]?)result ?? throw Unexpected(result);
        if (reply is not [var status, ..])
        {
            throw Unexpected(result);
        }

        if ((string?)status != "written")
        {
            return new(WriteReply.Parse(result).Status, []);
        }

        var changes = new WriteReply[reply.Length - 1];
        for (var i = 1; i < reply.Length; i++)
        {
            var change = (RedisResult[]?)reply[i] is [var version, var receivers, var unreached] ? (version, receivers, unreached) : throw Unexpected(result);
            changes[i - 1] = new WriteReply(
                WriteStatus.Written, (long)change.version, (long)change.receivers, ((RedisResult[]?)change.unreached ?? []).Select(h => (string)h!).ToArray());
        }

        return new(WriteStatus.Written, changes);
    }

    private static RedisException Unexpected(RedisResult? result) =>
        new($"Unexpected reply to the multi-key write script: {result?.Resp2Type.ToString() ?? "none"} {result}.");
}
