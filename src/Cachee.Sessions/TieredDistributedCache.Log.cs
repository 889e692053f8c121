using Microsoft.Extensions.Logging;

namespace Cachee.Sessions;

public sealed partial class TieredDistributedCache
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Cachee: the Redis entry for '{Key}' could not be read ({Reason}); it is treated as a miss.", EventName = "UnreadablePayload")]
        public static partial void UnreadablePayload(ILogger logger, string key, string reason);

        [LoggerMessage(3, LogLevel.Debug, "Cachee: fetching the new value of '{Key}' after its invalidation failed; the next read will fetch it.", EventName = "PrefetchFailed")]
        public static partial void PrefetchFailed(ILogger logger, string key, Exception exception);

        [LoggerMessage(2, LogLevel.Warning, "Cachee: not every one of the {Expected} other subscribers acknowledged the change of '{Key}' within {Timeout}; the change is in Redis, but an instance may serve the previous value until it hears it.", EventName = "AckTimeout")]
        public static partial void AckTimeout(ILogger logger, string key, long expected, TimeSpan timeout);

        [LoggerMessage(4, LogLevel.Warning, "Cachee: Redis could not be asked for '{Key}' ({Reason}); served the L1 copy, which may be stale.", EventName = "ServedStale")]
        public static partial void ServedStale(ILogger logger, string key, string reason);

        [LoggerMessage(5, LogLevel.Warning, "Cachee: Redis is unreachable; the write of '{Key}' is queued for replay and served by this instance meanwhile.", EventName = "WriteQueued")]
        public static partial void WriteQueued(ILogger logger, string key);

        [LoggerMessage(6, LogLevel.Error, "Cachee: the replay queue is full ({Count} writes); the write of '{Key}' is refused.", EventName = "ReplayQueueFull")]
        public static partial void ReplayQueueFull(ILogger logger, string key, int count);

        [LoggerMessage(7, LogLevel.Information, "Cachee: the queued write of '{Key}' is in Redis now (version {Version}).", EventName = "WriteReplayed")]
        public static partial void WriteReplayed(ILogger logger, string key, long version);

        [LoggerMessage(8, LogLevel.Warning, "Cachee: the queued write of '{Key}' was dropped: Redis holds a newer version than {BaseVersion}, which it was based on.", EventName = "ReplaySuperseded")]
        public static partial void ReplaySuperseded(ILogger logger, string key, long baseVersion);

        [LoggerMessage(9, LogLevel.Error, "Cachee: Redis refused the queued write of '{Key}'; it was dropped.", EventName = "ReplayFailed")]
        public static partial void ReplayFailed(ILogger logger, string key, Exception exception);

        [LoggerMessage(10, LogLevel.Error, "Cachee: shutting down with {Count} queued writes Redis could not take; they are lost.", EventName = "ReplayLost")]
        public static partial void ReplayLost(ILogger logger, int count);
    }
}
