using Cachee.Sessions.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.Coordination;

/// <summary>The log messages of the background upkeep (one category: <see cref="ClusterCoordinator"/>).</summary>
internal static partial class CoordinationLog
{
    [LoggerMessage(100, LogLevel.Warning, "Cachee: the invalidation subscription was lost; L1 is bypassed until it is back.", EventName = "SubscriptionLost")]
    public static partial void SubscriptionLost(ILogger logger);

    [LoggerMessage(101, LogLevel.Information, "Cachee: the invalidation subscription is live; L1 serves again in epoch {Epoch}.", EventName = "SubscriptionEstablished")]
    public static partial void SubscriptionEstablished(ILogger logger, int epoch);

    [LoggerMessage(102, LogLevel.Warning, "Cachee: could not subscribe to invalidations; retrying in {Delay}. L1 is bypassed meanwhile.", EventName = "SubscribeFailed")]
    public static partial void SubscribeFailed(ILogger logger, TimeSpan delay, Exception exception);

    [LoggerMessage(103, LogLevel.Warning, "Cachee: {Count} message(s) on this instance's invalidation channel were not understood and were ignored (logged at most once a minute; cachee.invalidations.malformed counts them all). Only Cachee should publish there: see the ACL rule in the README.", EventName = "MalformedMessage")]
    public static partial void MalformedMessage(ILogger logger, long count);

    [LoggerMessage(104, LogLevel.Warning, "Cachee: renewing the sliding expiration of {Key} in Redis failed; it will be retried on the next hit.", EventName = "RefreshFailed")]
    public static partial void RefreshFailed(ILogger logger, RedactedKey key, Exception exception);

    [LoggerMessage(106, LogLevel.Warning, "Cachee: L1 is off for this cache. {Reason}", EventName = "CoherenceUnavailable")]
    public static partial void CoherenceUnavailable(ILogger logger, string reason);

    [LoggerMessage(107, LogLevel.Information, "Cachee: Redis reported that every key may have changed (a flush, or its tracking table overflowed); L1 dropped every copy and serves in epoch {Epoch}.", EventName = "AllRevoked")]
    public static partial void AllRevoked(ILogger logger, int epoch);

    [LoggerMessage(108, LogLevel.Warning, "Cachee: Redis cannot report changes made by other clients to this instance ({Reason}). L1 stays coherent with Cachee writers, but a DEL, a RedisCache write or an eviction by Redis is not seen until the copy ends.", EventName = "RevocationUnavailable")]
    public static partial void RevocationUnavailable(ILogger logger, string reason);

    [LoggerMessage(109, LogLevel.Warning, "Cachee: a Redis Cluster node lost a connection; the {Count} L1 copies of the keys it serves were dropped, and its keys are read from Redis until it is back.", EventName = "ShardLost")]
    public static partial void ShardLost(ILogger logger, int count);

    [LoggerMessage(105, LogLevel.Debug, "Cachee: swept {Count} expired entries out of L1.", EventName = "Swept")]
    public static partial void Swept(ILogger logger, int count);
}
