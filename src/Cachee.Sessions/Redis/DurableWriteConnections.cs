using System.Collections.Concurrent;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis;

/// <summary>
/// Connections of their own for writes that wait for replicas (<see cref="CacheeOptions.MinReplicasToAcknowledge"/>).
/// <c>WAIT</c> blocks the connection it runs on and covers the writes made on that connection, so each such write leases a
/// connection, runs its script and its <c>WAIT</c> there, and gives it back: the cache's shared connection, and every other
/// call on it, is never held up. Connections are made on demand (at most <see cref="MaxConnections"/>, a few per core) and
/// kept for reuse; they carry their own client name, so that they are never taken for the cache's subscriber connection.
/// </summary>
internal sealed class DurableWriteConnections(CacheeOptions options, string clientName, RedisTls? tls) : IDisposable
{
    private readonly ConcurrentBag<ConnectionMultiplexer> _idle = [];
    private readonly SemaphoreSlim _slots = new(MaxConnections, MaxConnections);
    private volatile bool _disposed;

    /// <summary>How many acknowledged writes may wait at once; more wait for a connection.</summary>
    public static int MaxConnections { get; } = Math.Max(4, Environment.ProcessorCount * 2);

    /// <summary>A connection for one write, to give back (dispose) once its <c>WAIT</c> has returned.</summary>
    public async ValueTask<Lease> LeaseAsync(bool sync, CancellationToken token)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (sync)
        {
            _slots.Wait(token);
        }
        else
        {
            await _slots.WaitAsync(token).ConfigureAwait(false);
        }

        try
        {
            if (!_idle.TryTake(out var multiplexer))
            {
                var configuration = RedisConnection.Configure(options, clientName, tls);

                // A command for a node without a connection (killed, in an election) fails at once rather than waiting in
                // the backlog with its connection leased: the next write would then have to connect a new one, which on a
                // cluster with a node down takes the whole connect timeout, and would hold up writes to the healthy shards.
                configuration.BacklogPolicy = BacklogPolicy.FailFast;
                multiplexer = sync
                    ? ConnectionMultiplexer.Connect(configuration)
                    : await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
            }

            return new Lease(this, multiplexer);
        }
        catch
        {
            _ = _slots.Release();
            throw;
        }
    }

    private void Return(ConnectionMultiplexer multiplexer)
    {
        if (_disposed || !multiplexer.IsConnected)
        {
            multiplexer.Close(allowCommandsToComplete: false);
            multiplexer.Dispose();
        }
        else
        {
            _idle.Add(multiplexer);
        }

        _ = _slots.Release();
    }

    /// <summary>Closes the idle connections at once; leased ones are closed when given back.</summary>
    public void Dispose()
    {
        _disposed = true;
        while (_idle.TryTake(out var multiplexer))
        {
            multiplexer.Close(allowCommandsToComplete: false);
            multiplexer.Dispose();
        }
    }

    /// <summary>One leased connection.</summary>
    internal readonly struct Lease(DurableWriteConnections owner, ConnectionMultiplexer multiplexer) : IDisposable
    {
        public ConnectionMultiplexer Multiplexer => multiplexer;

        public void Dispose() => owner.Return(multiplexer);
    }
}
