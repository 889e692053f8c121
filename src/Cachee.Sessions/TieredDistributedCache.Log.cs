using Cachee.Sessions.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions;

// Keys appear in logs only as a RedactedKey (a keyed hash): a session key is a bearer secret. Values never appear.
public sealed partial class TieredDistributedCache
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Cachee: the Redis entry for {Key} could not be read ({Reason}); it is treated as a miss.", EventName = "UnreadablePayload")]
        public static partial void UnreadablePayload(ILogger logger, RedactedKey key, string reason);

        [LoggerMessage(2, LogLevel.Warning, "Cachee: not every one of the {Expected} other subscribers acknowledged the change of {Key} within {Timeout}; the change is in Redis, but an instance may serve the previous value until it hears it.", EventName = "AckTimeout")]
        public static partial void AckTimeout(ILogger logger, RedactedKey key, long expected, TimeSpan timeout);

        [LoggerMessage(3, LogLevel.Debug, "Cachee: fetching the new value of {Key} after its invalidation failed; the next read will fetch it.", EventName = "PrefetchFailed")]
        public static partial void PrefetchFailed(ILogger logger, RedactedKey key, Exception exception);

        [LoggerMessage(4, LogLevel.Warning, "Cachee: Redis could not be asked for {Key} ({Reason}); served the L1 copy, which may be stale.", EventName = "ServedStale")]
        public static partial void ServedStale(ILogger logger, RedactedKey key, string reason);

        [LoggerMessage(5, LogLevel.Warning, "Cachee: Redis could not be reached at start-up to check the user's permissions; the cache starts and serves from Redis once it answers.", EventName = "AccessUnchecked")]
        public static partial void AccessUnchecked(ILogger logger, Exception exception);
    }
}
