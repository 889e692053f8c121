using Microsoft.Extensions.Logging;

namespace Cachee.Sessions;

public sealed partial class TieredDistributedCache
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Cachee: the Redis entry for '{Key}' could not be read ({Reason}); it is treated as a miss.", EventName = "UnreadablePayload")]
        public static partial void UnreadablePayload(ILogger logger, string key, string reason);
    }
}
