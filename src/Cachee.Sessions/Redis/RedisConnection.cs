using StackExchange.Redis;

namespace Cachee.Sessions.Redis;

/// <summary>
/// The one multiplexer of a cache, connected lazily on first use. <c>AbortOnConnectFail</c> is off so that a cache
/// created while Redis is down connects as soon as Redis is back. Its connections carry the client name
/// <paramref name="clientName"/>, unique to the cache, by which the invalidation bus finds its subscriber connection.
/// </summary>
internal sealed class RedisConnection(CacheeOptions options, string clientName) : IDisposable
{
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private volatile IConnectionMultiplexer? _multiplexer;
    private volatile bool _owned;
    private volatile bool _disposed;

    /// <summary>The connections writes run on when they wait for replicas (<see cref="CacheeOptions.MinReplicasToAcknowledge"/> &gt; 0), else null.</summary>
    public DurableWriteConnections? Durable { get; } =
        options.MinReplicasToAcknowledge > 0 ? new DurableWriteConnections(options, clientName + "-acknowledged") : null;

    /// <summary>The connections large values travel on (<see cref="CacheeOptions.LargeValueConnections"/> &gt; 0 and connections of Cachee's own), else null.</summary>
    public LargeValueConnections? Large { get; } =
        options.LargeValueConnections > 0 && options.ConnectionMultiplexerFactory is null ? new LargeValueConnections(options, clientName + "-large") : null;

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

            if (options.ConnectionMultiplexerFactory is { } factory)
            {
                var task = factory();
                multiplexer = sync ? task.GetAwaiter().GetResult() : await task.ConfigureAwait(false);
                _owned = false;
            }
            else
            {
                var configuration = Configure(options, clientName);
                multiplexer = sync
                    ? ConnectionMultiplexer.Connect(configuration)
                    : await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
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
    internal static ConfigurationOptions Configure(CacheeOptions options, string clientName)
    {
        var configuration = options.ConfigurationOptions?.Clone() ?? ConfigurationOptions.Parse(options.Configuration!);
        configuration.AbortOnConnectFail = false;
        configuration.ClientName = clientName;

        // On a cluster, tracking is armed on each master through IServer, whose CLIENT commands need admin mode.
        configuration.AllowAdmin = true;

        // Keys are bearer secrets (session ids): StackExchange.Redis must not put them in its exception messages.
        configuration.IncludeDetailInExceptions = false;

        // No call may wait longer than the operation timeout, blocking ones included (their bound is SyncTimeout).
        var timeout = (int)Math.Ceiling(options.L2OperationTimeout.TotalMilliseconds);
        configuration.SyncTimeout = Math.Min(configuration.SyncTimeout, timeout);
        configuration.ConnectTimeout = Math.Min(configuration.ConnectTimeout, Math.Max(timeout, 1000));
        return configuration;
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
        var multiplexer = Interlocked.Exchange(ref _multiplexer, null);
        if (_owned && multiplexer is not null)
        {
            multiplexer.Close(allowCommandsToComplete: false);
            multiplexer.Dispose();
        }
    }
}
