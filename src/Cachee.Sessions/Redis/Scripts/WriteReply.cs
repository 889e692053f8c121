using StackExchange.Redis;

namespace Cachee.Sessions.Redis.Scripts;

/// <summary>What a write script (<see cref="SetScript"/>, <see cref="ReplayScript"/>, <see cref="RemoveScript"/>) did.</summary>
internal enum WriteStatus
{
    /// <summary>Applied; the version and the holders told are in the reply.</summary>
    Written,

    /// <summary>It reached Redis after its deadline and was not applied.</summary>
    Late,

    /// <summary>A replay found another version than the one it was based on, and was not applied.</summary>
    Superseded,

    /// <summary>On a cluster, the writer does not listen on this node on its channel of the key's slot: nothing was done.</summary>
    NotListening,

    /// <summary>The large value uploaded for the write was gone when it ran: nothing was done.</summary>
    UploadMissing,
}

/// <summary>The reply of a write script, parsed once.</summary>
/// <param name="Status">What the script did.</param>
/// <param name="Version">The version the change was published with (0 unless written).</param>
/// <param name="Receivers">How many holders heard the invalidation on the key's shard.</param>
/// <param name="Unreached">On a cluster, the holders that did not listen on the key's shard (told on their home inbox).</param>
internal readonly record struct WriteReply(WriteStatus Status, long Version, long Receivers, string[] Unreached)
{
    /// <summary>Parses {status[, version, receivers, unreached]}; throws <see cref="RedisException"/> on anything else.</summary>
    public static WriteReply Parse(RedisResult result)
    {
        var reply = (RedisResult[]?)result ?? throw Unexpected(result);
        return reply is [var status, ..] ? (string?)status switch
        {
            "written" when reply.Length == 4 => new(
                WriteStatus.Written, (long)reply[1], (long)reply[2], ((RedisResult[]?)reply[3] ?? []).Select(h => (string)h!).ToArray()),
            "late" => Only(WriteStatus.Late),
            "superseded" => Only(WriteStatus.Superseded),
            "not-listening" => Only(WriteStatus.NotListening),
            "upload-missing" => Only(WriteStatus.UploadMissing),
            _ => throw Unexpected(result),
        } : throw Unexpected(result);
    }

    private static WriteReply Only(WriteStatus status) => new(status, 0, 0, []);

    private static RedisException Unexpected(RedisResult? result) =>
        new($"Unexpected reply to a write script: {result?.Resp2Type.ToString() ?? "none"} {result}.");
}
