using Microsoft.AspNetCore.Session;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.SessionState;

/// <summary>
/// The <see cref="ISessionStore"/> <c>AddCacheeSessions</c> registers: the session middleware asks it for each request's
/// session, and gets a <see cref="CacheeSession"/> whose load has already started.
/// </summary>
internal sealed class CacheeSessionStore(TieredDistributedCache cache, IOptions<CacheeOptions> options, ILoggerFactory? loggerFactory = null) : ISessionStore
{
    /// <summary>
    /// The category <c>DistributedSession</c> logs under: the events keep their ids, names and levels, so the filters and
    /// alerts an app set for them go on working.
    /// </summary>
    public const string LogCategory = "Microsoft.AspNetCore.Session.DistributedSession";

    private readonly ILogger _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger(LogCategory);
    private readonly SessionFormat _format = options.Value.SessionFormat;

    public Microsoft.AspNetCore.Http.ISession Create(
        string sessionKey, TimeSpan idleTimeout, TimeSpan ioTimeout, Func<bool> tryEstablishSession, bool isNewSessionKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionKey);
        ArgumentNullException.ThrowIfNull(tryEstablishSession);
        var session = new CacheeSession(cache, sessionKey, idleTimeout, ioTimeout, tryEstablishSession, isNewSessionKey, _format, _logger);
        session.StartLoading();
        return session;
    }
}
