using StackExchange.Redis;

namespace Cachee.Sessions.L2;

/// <summary>
/// The one multiplexer of a cache, connected lazily on first use. <c>AbortOnConnectFail</c> is off so that a cache
/// created while Redis is down connects as soon as Redis is back.
/// </summary>
internal sealed class RedisConnection(CacheeOptions options) : IAsyncDisposable
{
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private volatile IConnectionMultiplexer? _multiplexer;
    private bool _owned;
    private bool _disposed;

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
                var configuration = options.ConfigurationOptions?.Clone() ?? ConfigurationOptions.Parse(options.Configuration!);
                configuration.AbortOnConnectFail = false;

                // No call may wait longer than the operation timeout, blocking ones included (their bound is SyncTimeout).
                var timeout = (int)Math.Ceiling(options.L2OperationTimeout.TotalMilliseconds);
                configuration.SyncTimeout = Math.Min(configuration.SyncTimeout, timeout);
                configuration.ConnectTimeout = Math.Min(configuration.ConnectTimeout, Math.Max(timeout, 1000));
                multiplexer = sync
                    ? ConnectionMultiplexer.Connect(configuration)
                    : await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
                _owned = true;
            }

            _multiplexer = multiplexer;
            return multiplexer;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _connectLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (_owned && _multiplexer is { } multiplexer)
            {
                await multiplexer.CloseAsync(allowCommandsToComplete: true).ConfigureAwait(false);
                multiplexer.Dispose();
            }

            _multiplexer = null;
        }
        finally
        {
            _connectLock.Release();
        }
    }
}
