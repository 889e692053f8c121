using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis;

/// <summary>
/// The one multiplexer of a cache, connected lazily on first use. <c>AbortOnConnectFail</c> is off so that a cache
/// created while Redis is down connects as soon as Redis is back. Its connections carry the client name
/// given to the constructor, unique to the cache, by which the invalidation bus finds its subscriber connection.
/// </summary>
internal sealed partial class RedisConnection : IDisposable
{
    private readonly CacheeOptions _options;
    private readonly string _clientName;
    private readonly ILogger _logger;
    private readonly RedisTls? _tls;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private volatile string? _problem;
    private volatile IConnectionMultiplexer? _multiplexer;
    private volatile bool _owned;
    private volatile bool _disposed;

    public RedisConnection(CacheeOptions options, string clientName, ILogger? logger = null)
    {
        _options = options;
        _clientName = clientName;
        _logger = logger ?? NullLogger.Instance;
        _tls = RedisTls.From(options, Refused);
        Durable = options.MinReplicasToAcknowledge > 0 ? new DurableWriteConnections(options, clientName + "-acknowledged", _tls) : null;
        var own = options.ConnectionMultiplexerFactory is null;
        Large = options.LargeValueConnections > 0 && own ? new UntrackedConnections(options, options.LargeValueConnections, clientName + "-large", _tls) : null;
        Untracked = own ? new UntrackedConnections(options, 1, clientName + "-untracked", _tls) : null;
    }

    /// <summary>The connections writes run on when they wait for replicas (<see cref="CacheeOptions.MinReplicasToAcknowledge"/> &gt; 0), else null.</summary>
    public DurableWriteConnections? Durable { get; }

    /// <summary>The connections large values travel on (<see cref="CacheeOptions.LargeValueConnections"/> &gt; 0 and connections of Cachee's own), else null.</summary>
    public UntrackedConnections? Large { get; }

    /// <summary>
    /// The connection reads that keep no L1 copy go through, so that Redis does not track them (connections of Cachee's own);
    /// null with a multiplexer from <see cref="CacheeOptions.ConnectionMultiplexerFactory"/>, whose reads are all tracked.
    /// </summary>
    public UntrackedConnections? Untracked { get; }

    /// <summary>
    /// Why Redis refused the last connection of this cache, when it did and no connection succeeded since: a TLS certificate
    /// not trusted, a client certificate or a password refused. Null otherwise. StackExchange.Redis only reports that no
    /// connection is available; this says why.
    /// </summary>
    public string? Problem => _problem;

    /// <summary>Returns the multiplexer, connecting first if needed; completes synchronously when <paramref name="sync"/> is set.</summary>
    public async ValueTask<IConnectionMultiplexer> GetAsync(bool sync, CancellationToken token)
    {
        var multiplexer = _multiplexer;
        if (multiplexer is not null)
        {
            return multiplexer;
        }

        if (sync)
        {
            _connectLock.Wait(token);
        }
        else
        {
            await _connectLock.WaitAsync(token).ConfigureAwait(false);
        }

        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_multiplexer is { } existing)
            {
                return existing;
            }

            if (_options.ConnectionMultiplexerFactory is { } factory)
            {
                var task = factory();
                multiplexer = sync ? task.GetAwaiter().GetResult() : await task.ConfigureAwait(false);
                _owned = false;
            }
            else
            {
                var configuration = Configure(_options, _clientName, _tls);
                // Not disposed: StackExchange.Redis may still hold it after the connect returns (writing to a disposed writer throws).
                var connectLog = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
                var own = sync
                    ? ConnectionMultiplexer.Connect(configuration, connectLog)
                    : await ConnectionMultiplexer.ConnectAsync(configuration, connectLog).ConfigureAwait(false);
                own.ConnectionFailed += OnConnectionFailed;
                own.ConnectionRestored += OnConnectionRestored;
                if (own.IsConnected)
                {
                    _problem = null;
                }
                else if (RefusalInConnectLog(connectLog.ToString()) is { } refusal)
                {
                    // The first connect was refused: StackExchange.Redis says why only in its connect log.
                    Refused(refusal);
                }

                multiplexer = own;
                _owned = true;
            }

            _multiplexer = multiplexer;
            if (_disposed)
            {
                // Disposed while connecting (disposal does not wait for a connect): close what was just made.
                Dispose();
                throw new ObjectDisposedException(nameof(RedisConnection));
            }

            return multiplexer;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    /// <summary>The configuration of a connection Cachee makes itself, named <paramref name="clientName"/>.</summary>
    internal static ConfigurationOptions Configure(CacheeOptions options, string clientName, RedisTls? tls)
    {
        var configuration = options.ConfigurationOptions?.Clone() ?? ConfigurationOptions.Parse(RedisUri.ToConfigurationString(options.Configuration!));
        configuration.AbortOnConnectFail = false;
        configuration.ClientName = clientName;
        tls?.ApplyTo(configuration);

        // On a cluster, tracking is armed on each master through IServer, whose CLIENT commands need admin mode.
        configuration.AllowAdmin = true;

        // Nothing outside what the least-privilege ACL rule in the README grants: StackExchange.Redis would otherwise read its
        // tie-breaker key and listen on its own configuration channel (both for its own master promotions, which Cachee never
        // asks for; Sentinel and Cluster fail over by themselves), and in admin mode read the server's CONFIG, which Cachee
        // does not need.
        configuration.TieBreaker = string.Empty;
        configuration.ConfigurationChannel = string.Empty;
        if (configuration.CommandMap == CommandMap.Default)
        {
            configuration.CommandMap = CommandMap.Create(new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "CONFIG" }, available: false);
        }

        // Keys are bearer secrets (session ids): StackExchange.Redis must not put them in its exception messages.
        configuration.IncludeDetailInExceptions = false;

        // No call may wait longer than the operation timeout, blocking ones included (their bound is SyncTimeout).
        var timeout = (int)Math.Ceiling(options.L2OperationTimeout.TotalMilliseconds);
        configuration.SyncTimeout = Math.Min(configuration.SyncTimeout, timeout);
        configuration.ConnectTimeout = Math.Min(configuration.ConnectTimeout, Math.Max(timeout, 1000));
        return configuration;
    }

    // A connection refused, by us (a TLS certificate, see RedisTls) or by Redis (credentials): logged once per reason, and
    // kept for the errors callers see until a connection succeeds.
    private void Refused(string reason)
    {
        if (Interlocked.Exchange(ref _problem, reason) != reason)
        {
            Log.ConnectionRefused(_logger, reason);
        }
    }

    // Redis refused us (a password, a client certificate, a user's permissions): StackExchange.Redis reports it as an
    // authentication failure.
    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.FailureType == ConnectionFailureType.AuthenticationFailure && _problem is null)
        {
            Refused($"Redis at {e.EndPoint} refused the connection ({Innermost(e.Exception)})");
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => _problem = null;

    /// <summary>
    /// Why Redis refused a connection, when <paramref name="exception"/> or one of its causes says it did (an authentication
    /// failure: credentials, a client certificate); else null.
    /// </summary>
    public static string? RefusalIn(Exception exception)
    {
        for (Exception? cause = exception; cause is not null; cause = cause.InnerException)
        {
            if (cause is RedisConnectionException { FailureType: ConnectionFailureType.AuthenticationFailure }
                || (cause is RedisServerException && (cause.Message.Contains("WRONGPASS", StringComparison.Ordinal) || cause.Message.Contains("NOAUTH", StringComparison.Ordinal))))
            {
                return $"Redis refused the connection ({Innermost(cause)})";
            }
        }

        return null;
    }

    // The line of a connect log where Redis refused the credentials, if one did.
    private static string? RefusalInConnectLog(string log)
    {
        foreach (var line in log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            foreach (var marker in (string[])["WRONGPASS", "NOAUTH", "NOPERM"])
            {
                var at = line.IndexOf(marker, StringComparison.Ordinal);
                if (at >= 0)
                {
                    return $"Redis refused the connection ({line[at..]})";
                }
            }
        }

        return null;
    }

    private static string Innermost(Exception? exception)
    {
        while (exception?.InnerException is not null)
        {
            exception = exception.InnerException;
        }

        return exception?.Message ?? "no detail";
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Cachee cannot connect to Redis: {Reason}.", EventName = "ConnectionRefused")]
        public static partial void ConnectionRefused(ILogger logger, string reason);
    }

    /// <summary>
    /// Closes the connection if this cache made it, at once: commands still in flight fail rather than being waited for
    /// (disposal never waits for Redis). A multiplexer from <see cref="CacheeOptions.ConnectionMultiplexerFactory"/> belongs to
    /// the application and is left open.
    /// </summary>
    public void Dispose()
    {
        _disposed = true;
        Durable?.Dispose();
        Large?.Dispose();
        Untracked?.Dispose();
        var multiplexer = Interlocked.Exchange(ref _multiplexer, null);
        if (_owned && multiplexer is not null)
        {
            multiplexer.Close(allowCommandsToComplete: false);
            multiplexer.Dispose();
        }
    }
}
