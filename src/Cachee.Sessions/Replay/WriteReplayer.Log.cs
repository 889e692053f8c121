using Cachee.Sessions.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.Replay;

internal sealed partial class WriteReplayer
{
    private static partial class Log
    {
        [LoggerMessage(5, LogLevel.Warning, "Cachee: Redis is unreachable; the write of {Key} is queued for replay and served by this instance meanwhile.", EventName = "WriteQueued")]
        public static partial void WriteQueued(ILogger logger, RedactedKey key);

        [LoggerMessage(6, LogLevel.Error, "Cachee: the replay queue is full ({Count} writes); the write of {Key} is refused.", EventName = "ReplayQueueFull")]
        public static partial void ReplayQueueFull(ILogger logger, RedactedKey key, int count);

        [LoggerMessage(7, LogLevel.Information, "Cachee: the queued write of {Key} is in Redis now (version {Version}).", EventName = "WriteReplayed")]
        public static partial void WriteReplayed(ILogger logger, RedactedKey key, long version);

        [LoggerMessage(8, LogLevel.Warning, "Cachee: the queued write of {Key} was dropped: Redis holds a newer version than {BaseVersion}, which it was based on.", EventName = "ReplaySuperseded")]
        public static partial void ReplaySuperseded(ILogger logger, RedactedKey key, long baseVersion);

        [LoggerMessage(9, LogLevel.Error, "Cachee: Redis refused the queued write of {Key}; it was dropped.", EventName = "ReplayFailed")]
        public static partial void ReplayFailed(ILogger logger, RedactedKey key, Exception exception);

        [LoggerMessage(10, LogLevel.Error, "Cachee: shutting down with {Count} queued writes Redis could not take; they are lost.", EventName = "ReplayLost")]
        public static partial void ReplayLost(ILogger logger, int count);
    }
}
