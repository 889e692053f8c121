using Cachee.Sessions.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.SessionState;

// The events, ids and levels of ASP.NET Core's DistributedSession, which apps already watch; the session key appears only
// as a RedactedKey (it is a bearer secret). Events 10 and up are Cachee's own.
internal static partial class SessionLog
{
    [LoggerMessage(2, LogLevel.Information, "Accessing expired session, Key:{SessionKey}", EventName = "AccessingExpiredSession")]
    public static partial void AccessingExpiredSession(ILogger logger, RedactedKey sessionKey);

    [LoggerMessage(3, LogLevel.Information, "Session started; Key:{SessionKey}, Id:{SessionId}", EventName = "SessionStarted")]
    public static partial void SessionStarted(ILogger logger, RedactedKey sessionKey, string sessionId);

    [LoggerMessage(4, LogLevel.Debug, "Session loaded; Key:{SessionKey}, Id:{SessionId}, Count:{Count}", EventName = "SessionLoaded")]
    public static partial void SessionLoaded(ILogger logger, RedactedKey sessionKey, string sessionId, int count);

    [LoggerMessage(5, LogLevel.Debug, "Session stored; Key:{SessionKey}, Id:{SessionId}, Count:{Count}", EventName = "SessionStored")]
    public static partial void SessionStored(ILogger logger, RedactedKey sessionKey, string sessionId, int count);

    [LoggerMessage(6, LogLevel.Error, "Session cache read exception, Key:{SessionKey}", EventName = "SessionCacheReadException")]
    public static partial void SessionCacheReadException(ILogger logger, RedactedKey sessionKey, Exception exception);

    [LoggerMessage(8, LogLevel.Warning, "Loading the session timed out.", EventName = "SessionLoadingTimeout")]
    public static partial void SessionLoadingTimeout(ILogger logger);

    [LoggerMessage(9, LogLevel.Warning, "Committing the session timed out.", EventName = "SessionCommitTimeout")]
    public static partial void SessionCommitTimeout(ILogger logger);

    [LoggerMessage(20, LogLevel.Warning, "Cachee: the stored session {SessionKey} could not be read ({Reason}); it starts anew.", EventName = "UnreadableSession")]
    public static partial void UnreadableSession(ILogger logger, RedactedKey sessionKey, string reason);

    [LoggerMessage(21, LogLevel.Warning, "Cachee: a value of session {SessionKey} could not be read; that key is treated as missing.", EventName = "SessionValueReadException")]
    public static partial void SessionValueReadException(ILogger logger, RedactedKey sessionKey, Exception exception);
}
