namespace Cachee.Sessions.Redis.Scripts;

/// <summary>
/// An acknowledgement on a cluster, sent from the node that holds the key (KEYS[1], for routing only) to the writer's channel
/// of the key's slot, where it listened when it wrote. A plain <c>SPUBLISH</c> would go where the acknowledging instance's
/// map of the slots says, which lags while a slot moves. Replies how many heard it (0: the key was moving).
/// </summary>
internal static class AckOnKeyNodeScript
{
    public static readonly ScriptText Text = new("""
        local writerChannel, message = ARGV[1], ARGV[2]
        return redis.call('SPUBLISH', writerChannel, message)
        """);
}
