using Cachee.Sessions.Invalidation;
using Cachee.Sessions.Redis.Cluster;
using Cachee.Sessions.Redis.Scripts;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis;

/// <summary>
/// What an instance hears from Redis: its own channel (writers' invalidations, acknowledgements, probes) and server-assisted
/// tracking, each proven live before L1 is served. How, and why: docs/design.md, "What an instance hears".
/// </summary>
internal sealed partial class RedisInvalidationBus : IInvalidationBus
{
    private static readonly TimeSpan ReprobeBackoff = TimeSpan.FromMilliseconds(100);
    private const int MaxProveAttempts = 50;
    private static readonly RedisChannel TrackingChannel = RedisChannel.Literal("__redis__:invalidate");
    private readonly RedisConnection connection;
    private readonly ClusterTopology topology;
    private readonly ShardInboxes inboxes;
    private readonly string origin;
    private readonly string? keyPrefix;
    private readonly TimeSpan probeTimeout;
    private readonly RedisChannel _inbox;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource> _nodeProbes = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<System.Net.EndPoint, byte> _provingNodes = new();
    private readonly byte[] _keyPrefix;
    private readonly CancellationTokenSource _disposed = new();
    private IInvalidationListener? _listener;
    private IConnectionMultiplexer? _multiplexer;
    private ChannelMessageQueue? _queue;
    private ChannelMessageQueue? _trackingQueue;
    private TaskCompletionSource? _probe;
    private string _probeToken = string.Empty;
    private readonly Lock _gate = new();
    private int _probing;
    private long _losses;
    private long _nodeLosses;
    private int _trackingReported;

    public RedisInvalidationBus(
        RedisConnection connection, ClusterTopology topology, ShardInboxes inboxes, string origin, string? keyPrefix, TimeSpan probeTimeout)
    {
        this.connection = connection;
        this.topology = topology;
        this.inboxes = inboxes;
        this.origin = origin;
        this.keyPrefix = keyPrefix;
        this.probeTimeout = probeTimeout;
        _inbox = inboxes.InboxOf(origin, slot: null);
        _keyPrefix = System.Text.Encoding.UTF8.GetBytes(keyPrefix ?? string.Empty);
        inboxes.Received += OnMessage;
        topology.NodeNeedsProof += (node, slot) => StartProving(node, slot);
    }

    private bool IsCluster => topology.IsCluster;

    public async Task StartAsync(IInvalidationListener listener, CancellationToken token)
    {
        _listener = listener;
        var multiplexer = await connection.GetAsync(sync: false, token).ConfigureAwait(false);
        var servers = multiplexer.GetServers();
        var cluster = servers.Any(server => server.ServerType == ServerType.Cluster);
        if (cluster)
        {
            if (servers.Any(server => server.Version < new Version(7, 0)))
            {
                // Classic pub/sub on a cluster reaches every node but counts the subscribers of one: nobody to wait for.
                listener.OnCoherenceUnavailable(
                    "Redis Cluster before 7.0 has no sharded pub/sub, so invalidations cannot be confirmed across shards: L1 is off "
                    + "and every read goes to Redis (correct, with RedisCache's cost).");
                return;
            }
        }

        if (_multiplexer is null)
        {
            topology.Learn(multiplexer, cluster);
            _multiplexer = multiplexer;
            multiplexer.ConnectionFailed += OnConnectionFailed;
            multiplexer.ConnectionRestored += OnConnectionRestored;
        }

        if (IsCluster)
        {
            await inboxes.SubscribeHomeAsync(multiplexer).ConfigureAwait(false);
        }

        if (_queue is null && !IsCluster)
        {
            // A queue delivers messages one at a time, in channel order, which the version checks rely on.
            _queue = await multiplexer.GetSubscriber().SubscribeAsync(_inbox).ConfigureAwait(false);
            inboxes.Pump.Consume(_queue, OnMessage);
        }

        if (_trackingQueue is null)
        {
            _trackingQueue = await multiplexer.GetSubscriber().SubscribeAsync(TrackingChannel).ConfigureAwait(false);
            inboxes.Pump.Consume(_trackingQueue, OnTracking);
        }

        await ProbeAsync(token).ConfigureAwait(false);
    }

    public async Task CheckAccessAsync(CancellationToken token)
    {
        var multiplexer = await connection.GetAsync(sync: false, token).ConfigureAwait(false);
        var subscriber = multiplexer.GetSubscriber();
        var cluster = multiplexer.GetServers().Any(server => server.ServerType == ServerType.Cluster);
        var check = inboxes.InboxOf("access-check-" + origin, cluster ? 0 : null);
        _ = await subscriber.SubscribeAsync(check).ConfigureAwait(false);
        await subscriber.UnsubscribeAsync(check).ConfigureAwait(false);
    }

    public void PublishAck(string writerOrigin, long ackId, string key)
    {
        if (_multiplexer is not { } multiplexer)
        {
            return;
        }

        var message = InvalidationMessage.FormatAck(ackId, origin);
        if (IsCluster)
        {
            _ = AckOnClusterAsync(multiplexer, writerOrigin, key, message);
            return;
        }

        _ = multiplexer.GetSubscriber().Publish(inboxes.InboxOf(writerOrigin, null), message, CommandFlags.FireAndForget);
    }

    // From the node that holds the key, to the writer's channel of the key's slot, where the writer listened when it wrote.
    // While the slot moves, the script may run on the node it is moving to (Redis redirects with ASK once the key has left)
    // where the writer does not listen yet, or fail: then the acknowledgement goes to the writer's home inbox as well. (An
    // acknowledgement counts once per holder, so the two never count twice.)
    private async Task AckOnClusterAsync(IConnectionMultiplexer multiplexer, string writerOrigin, string key, string message)
    {
        try
        {
            var inbox = inboxes.SlotInboxName(writerOrigin, topology.SlotOf(key));
            var heard = await multiplexer.GetDatabase().ScriptEvaluateAsync(
                AckOnKeyNodeScript.Text.Lua, [new RedisKey((keyPrefix ?? string.Empty) + key)], [inbox, message]).ConfigureAwait(false);
            if ((long)heard > 0)
            {
                return;
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // Tried at home below.
        }

        try
        {
            _ = await multiplexer.GetSubscriber().PublishAsync(inboxes.HomeInboxOf(writerOrigin), message).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // Not sent: the writer stops waiting at its acknowledgement timeout, as for a lost message.
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
            else if (_nodeProbes.TryGetValue(message.KeyOrToken, out var nodeProbe))
            {
                nodeProbe.TrySetResult();
            }

            return;
        }

        _listener?.OnMessage(message);
    }

    // A key this instance read was changed by someone (Cachee writers included: their own invalidation follows), or, with no
    // key, everything was (FLUSHALL, or Redis' tracking table overflowed).
    private void OnTracking(RedisValue value)
    {
        if (value.IsNull)
        {
            _listener?.OnAllRevoked();
            return;
        }

        var key = (byte[])value!;
        if (key.AsSpan().StartsWith(_keyPrefix))
        {
            _listener?.OnMessage(new ParsedMessage(
                MessageKind.Revoked, string.Empty, 0, 0, System.Text.Encoding.UTF8.GetString(key.AsSpan(_keyPrefix.Length))));
        }
    }

    private async Task ProbeAsync(CancellationToken token)
    {
        var losses = Interlocked.Read(ref _losses);
        var probe = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _probeToken, Guid.NewGuid().ToString("N"));
        Volatile.Write(ref _probe, probe);
        var probeChannel = _inbox;
        if (IsCluster)
        {
            // Every master proven on its own (see ProveNodeAsync), then the instance as a whole through slot 0's inbox.
            await Task.WhenAll(topology.Masters().Select(node => ProveNodeAsync(node))).ConfigureAwait(false);
            probeChannel = inboxes.InboxOf(origin, 0);
            await inboxes.EnsureSlotAsync(0).ConfigureAwait(false);
        }
        else
        {
            await ArmTrackingAsync().ConfigureAwait(false);
        }

        var subscriber = _multiplexer!.GetSubscriber();
        _ = await subscriber.PublishAsync(probeChannel, InvalidationMessage.FormatProbe(origin, _probeToken)).ConfigureAwait(false);
        await probe.Task.WaitAsync(probeTimeout, token).ConfigureAwait(false);
        lock (_gate)
        {
            // A loss reported while the probe was under way makes this probe worthless.
            if (losses != _losses)
            {
                throw new TimeoutException("A connection was lost while the invalidation subscription was being proven.");
            }

            _listener?.OnSubscriptionEstablished();
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        // On a cluster, only the keys that node serves may have changes go unheard: their copies are dropped and held back
        // until the node is proven again (see ClusterTopology.CanHold).
        if (IsCluster && e.EndPoint is { } lost && e.ConnectionType is ConnectionType.Subscription or ConnectionType.Interactive)
        {
            _ = Interlocked.Increment(ref _nodeLosses);
            topology.MarkLost(lost);
            _listener?.OnShardLost(key => topology.IsServedBy(key, lost));
            _ = topology.FollowFailoverAsync(lost, _disposed.Token);

            return;
        }

        // The subscription, or the tracking that lives on the reading connection: either way changes may go unheard.
        if (e.ConnectionType is ConnectionType.Subscription or ConnectionType.Interactive)
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
        if (IsCluster && e.EndPoint is { } back && e.ConnectionType is ConnectionType.Subscription or ConnectionType.Interactive)
        {
            StartProving(back);
            return;
        }

        if (e.ConnectionType is ConnectionType.Subscription or ConnectionType.Interactive && Interlocked.Exchange(ref _probing, 1) == 0)
        {
            _ = ReprobeUntilLiveAsync();
        }
    }

    // After a reconnect: keep arming and probing until a probe comes back (the resubscription may take a moment), or until disposal.
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

        foreach (var queue in inboxes.Queues.Append(_queue).Append(_trackingQueue))
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

        inboxes.Pump.Dispose();
    }
}
