using Cachee.Sessions.Invalidation;
using Cachee.Sessions.L2;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis;

/// <summary>
/// Listens on the invalidation channel through the cache's multiplexer. A subscription counts as live only after a probe
/// this instance published has come back through it: after a reconnect, StackExchange.Redis resubscribes in the
/// background, and "connection restored" alone does not prove that messages are heard again.
/// </summary>
internal sealed class RedisInvalidationBus(RedisConnection connection, string channel, string origin, TimeSpan probeTimeout)
    : IInvalidationBus
{
    private static readonly TimeSpan ReprobeBackoff = TimeSpan.FromMilliseconds(100);
    private readonly RedisChannel _channel = RedisChannel.Literal(channel);
    private readonly RedisChannel _ackChannel = RedisChannel.Literal(InvalidationMessage.AckChannel(channel, origin));
    private readonly CancellationTokenSource _disposed = new();
    private IInvalidationListener? _listener;
    private IConnectionMultiplexer? _multiplexer;
    private ChannelMessageQueue? _queue;
    private ChannelMessageQueue? _ackQueue;
    private TaskCompletionSource? _probe;
    private string _probeToken = string.Empty;
    private readonly Lock _gate = new();
    private int _probing;
    private long _losses;

    public async Task StartAsync(IInvalidationListener listener, CancellationToken token)
    {
        _listener = listener;
        var multiplexer = await connection.GetAsync(sync: false, token).ConfigureAwait(false);
        if (multiplexer.GetServers().Any(server => server.ServerType == ServerType.Cluster))
        {
            // Classic pub/sub on a cluster reaches every node, but a PUBLISH reports only the subscribers of the node that ran
            // it, so a writer cannot know whom to wait for: copies elsewhere could be served after a write returned.
            listener.OnCoherenceUnavailable(
                "Redis Cluster: invalidations cannot yet be confirmed across shards, so L1 is off and every read goes to Redis "
                + "(correct, with RedisCache's cost); the cluster protocol is tracked in issue #16.");
            return;
        }

        if (_multiplexer is null)
        {
            _multiplexer = multiplexer;
            multiplexer.ConnectionFailed += OnConnectionFailed;
            multiplexer.ConnectionRestored += OnConnectionRestored;
        }

        if (_queue is null)
        {
            // A queue delivers messages one at a time, in channel order, which the version checks rely on.
            _queue = await multiplexer.GetSubscriber().SubscribeAsync(_channel).ConfigureAwait(false);
            _queue.OnMessage(message => OnMessage(message.Message));
        }

        if (_ackQueue is null)
        {
            _ackQueue = await multiplexer.GetSubscriber().SubscribeAsync(_ackChannel).ConfigureAwait(false);
            _ackQueue.OnMessage(message => OnMessage(message.Message));
        }

        await ProbeAsync(token).ConfigureAwait(false);
    }

    public void PublishAck(string writerOrigin, long ackId)
    {
        if (_multiplexer is { } multiplexer)
        {
            var ackChannel = RedisChannel.Literal(InvalidationMessage.AckChannel(channel, writerOrigin));
            _ = multiplexer.GetSubscriber().Publish(ackChannel, InvalidationMessage.FormatAck(ackId, origin), CommandFlags.FireAndForget);
        }
    }

    private void OnMessage(RedisValue value)
    {
        var message = InvalidationMessage.Parse((string?)value);
        if (message.Kind == MessageKind.Probe && message.Origin == origin)
        {
            if (message.KeyOrToken == Volatile.Read(ref _probeToken))
            {
                Volatile.Read(ref _probe)?.TrySetResult();
            }

            return;
        }

        _listener?.OnMessage(message);
    }

    private async Task ProbeAsync(CancellationToken token)
    {
        var losses = Interlocked.Read(ref _losses);
        var probe = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _probeToken, Guid.NewGuid().ToString("N"));
        Volatile.Write(ref _probe, probe);
        var subscriber = _multiplexer!.GetSubscriber();
        _ = await subscriber.PublishAsync(_channel, InvalidationMessage.FormatProbe(origin, _probeToken)).ConfigureAwait(false);
        await probe.Task.WaitAsync(probeTimeout, token).ConfigureAwait(false);
        lock (_gate)
        {
            // A loss reported while the probe was under way makes this probe worthless.
            if (losses != _losses)
            {
                throw new TimeoutException("The invalidation subscription was lost while it was being probed.");
            }

            _listener?.OnSubscriptionEstablished();
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Subscription)
        {
            lock (_gate)
            {
                _losses++;
                _listener?.OnSubscriptionLost();
            }
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Subscription && Interlocked.Exchange(ref _probing, 1) == 0)
        {
            _ = ReprobeUntilLiveAsync();
        }
    }

    // After a reconnect: keep probing until a probe comes back (the resubscription may take a moment), or until disposal.
    private async Task ReprobeUntilLiveAsync()
    {
        try
        {
            while (!_disposed.IsCancellationRequested)
            {
                try
                {
                    await ProbeAsync(_disposed.Token).ConfigureAwait(false);
                    return;
                }
                catch (Exception ex) when (ex is TimeoutException or RedisException)
                {
                    // Not live yet: try again shortly.
                    await Task.Delay(ReprobeBackoff, _disposed.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
        finally
        {
            Volatile.Write(ref _probing, 0);
        }
    }

    // Never waits for Redis: the unsubscriptions are sent fire and forget (when the cache owns the connection, closing it
    // ends them anyway; on a connection the application shares, they stop the deliveries to this instance).
    public void Dispose()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }

        _disposed.Cancel();
        if (_multiplexer is { } multiplexer)
        {
            multiplexer.ConnectionFailed -= OnConnectionFailed;
            multiplexer.ConnectionRestored -= OnConnectionRestored;
        }

        foreach (var queue in new[] { _queue, _ackQueue })
        {
            try
            {
                queue?.Unsubscribe(CommandFlags.FireAndForget);
            }
            catch (Exception ex) when (ex is RedisException or ObjectDisposedException)
            {
                // The connection is gone already; nothing to unsubscribe.
            }
        }
    }
}
