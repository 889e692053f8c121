using StackExchange.Redis;

namespace Cachee.Sessions.Redis;

/// <summary>
/// A few multiplexers of Cachee's own beside the shared one, made on first use and taken in turn, with no tracking: Redis
/// remembers nothing of what is read through them, so nothing read there may be kept in L1 unless a read on the shared
/// (tracked) connection saw the same version (see <c>RedisL2Store</c>). A cache has two sets: one for large values
/// (<see cref="CacheeOptions.LargeValueThreshold"/>), so that a value of megabytes in flight holds up only other large values,
/// never the shared connection's small commands, invalidations and acknowledgements; and one for the reads that keep no copy
/// (see <c>HoldingPolicy</c>), which then cost Redis no tracking. They carry their own client name, so that they are never
/// taken for the cache's subscriber connection.
/// </summary>
internal sealed class UntrackedConnections(CacheeOptions options, int count, string clientName, RedisTls? tls) : IDisposable
{
    private readonly Lazy<Task<ConnectionMultiplexer>>[] _connections = new Lazy<Task<ConnectionMultiplexer>>[count];

    private int _next;
    private volatile bool _disposed;

    /// <summary>The next connection in turn, connected (a failed connect is tried again by the next caller).</summary>
    public async ValueTask<ConnectionMultiplexer> GetAsync(bool sync, CancellationToken token)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var index = (int)((uint)Interlocked.Increment(ref _next) % (uint)_connections.Length);
        var connection = Volatile.Read(ref _connections[index]);
        if (connection is null || connection.Value.IsFaulted || connection.Value.IsCanceled)
        {
            // Not made yet, or its connect failed: the first caller to get here makes it (again).
            _ = Interlocked.CompareExchange(ref _connections[index], NewConnection(), connection);
            connection = Volatile.Read(ref _connections[index])!;
        }

        var connect = connection.Value;

        return sync ? connect.GetAwaiter().GetResult() : await connect.WaitAsync(token).ConfigureAwait(false);
    }

    private Lazy<Task<ConnectionMultiplexer>> NewConnection() =>
        new(() => ConnectionMultiplexer.ConnectAsync(RedisConnection.Configure(options, clientName, tls)));

    /// <summary>Closes the connections made, at once.</summary>
    public void Dispose()
    {
        _disposed = true;
        foreach (var connection in _connections)
        {
            if (connection is not null && connection.IsValueCreated && connection.Value.IsCompletedSuccessfully)
            {
                connection.Value.Result.Close(allowCommandsToComplete: false);
                connection.Value.Result.Dispose();
            }
        }
    }
}
