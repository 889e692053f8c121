using Cachee.Sessions.Invalidation;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis;

/// <summary>
/// What an instance hears from Redis, through the cache's multiplexer:
/// <list type="bullet">
/// <item><b>Its own channel</b> (<see cref="InvalidationMessage.InboxChannel"/>): the invalidations Cachee writers send to
/// the holders of a key, the acknowledgements of this instance's writes, and its probes.</item>
/// <item><b>Server-assisted tracking</b> (<c>CLIENT TRACKING ON REDIRECT &lt;subscriber&gt; NOLOOP</c> on the connection that
/// reads): Redis itself reports, on <c>__redis__:invalidate</c>, every key this instance read that anyone changed since
/// (a <c>DEL</c> by an operator, a RedisCache write, an expiry or an eviction), and a flush of everything.</item>
/// </list>
/// Both live on connections that can drop. L1 is served only while both are proven: the subscription by a probe this instance
/// published coming back through it, tracking by Redis accepting it for the subscriber's current client id. Losing either
/// connection stops L1; once both are back, tracking is armed again and a probe starts a new epoch (copies from before the
/// gap are dropped, since Redis forgot what they tracked).
/// <para>On a Redis Cluster (7.0 or later), the own channel is a sharded channel per cluster slot in which this instance
/// holds keys (<see cref="EnsureInboxAsync"/>), so that a write script can publish to it on the key's own shard (and count
/// the holders there); tracking is armed on every master, redirected to this instance's subscriber connection on that
/// master. A gap on any node starts a new epoch for all (conservative).</para>
/// </summary>
internal sealed class RedisInvalidationBus(RedisConnection connection, string channel, string origin, string? keyPrefix, TimeSpan probeTimeout)
    : IInvalidationBus
{
    private static readonly TimeSpan ReprobeBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly RedisChannel TrackingChannel = RedisChannel.Literal("__redis__:invalidate");
    private readonly RedisChannel _inbox = RedisChannel.Literal(InvalidationMessage.InboxChannel(channel, origin));
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, Lazy<Task<ChannelMessageQueue>>> _shardInboxes = new();
    private bool _cluster;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource> _nodeProbes = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<System.Net.EndPoint, byte> _downNodes = new();
    private readonly byte[] _keyPrefix = System.Text.Encoding.UTF8.GetBytes(keyPrefix ?? string.Empty);
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
    private int _trackingReported;

    /// <summary>The client name the cache's own connections carry, so that the subscriber connection can be found in <c>CLIENT LIST</c>.</summary>
    public static string ClientNameFor(string origin) => "cachee-" + origin;

    /// <summary>True on a Redis Cluster: channels are sharded, one per slot in use (known once started).</summary>
    public bool IsCluster => Volatile.Read(ref _cluster);

    public async Task StartAsync(IInvalidationListener listener, CancellationToken token)
    {
        _listener = listener;
        var multiplexer = await connection.GetAsync(sync: false, token).ConfigureAwait(false);
        var servers = multiplexer.GetServers();
        if (servers.Any(server => server.ServerType == ServerType.Cluster))
        {
            if (servers.Any(server => server.Version < new Version(7, 0)))
            {
                // Classic pub/sub on a cluster reaches every node but counts the subscribers of one: nobody to wait for.
                listener.OnCoherenceUnavailable(
                    "Redis Cluster before 7.0 has no sharded pub/sub, so invalidations cannot be confirmed across shards: L1 is off "
                    + "and every read goes to Redis (correct, with RedisCache's cost).");
                return;
            }

            Volatile.Write(ref _cluster, true);
        }

        if (_multiplexer is null)
        {
            _multiplexer = multiplexer;
            multiplexer.ConnectionFailed += OnConnectionFailed;
            multiplexer.ConnectionRestored += OnConnectionRestored;
        }

        if (_queue is null && !IsCluster)
        {
            // A queue delivers messages one at a time, in channel order, which the version checks rely on.
            _queue = await multiplexer.GetSubscriber().SubscribeAsync(_inbox).ConfigureAwait(false);
            _queue.OnMessage(message => OnMessage(message.Message));
        }

        if (_trackingQueue is null)
        {
            _trackingQueue = await multiplexer.GetSubscriber().SubscribeAsync(TrackingChannel).ConfigureAwait(false);
            _trackingQueue.OnMessage(message => OnTracking(message.Message));
        }

        await ProbeAsync(token).ConfigureAwait(false);
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
            var inbox = HolderRegistryKey.TagFor(SlotOf(key)) + InvalidationMessage.InboxChannel(channel, writerOrigin);
            _ = multiplexer.GetDatabase().ScriptEvaluate(
                RedisScripts.AckOnKeyNode, [new RedisKey((keyPrefix ?? string.Empty) + key)], [inbox, message], CommandFlags.FireAndForget);
            return;
        }

        _ = multiplexer.GetSubscriber().Publish(InboxOf(writerOrigin, null), message, CommandFlags.FireAndForget);
    }

    /// <summary>The cluster slot of a cache key (with the instance prefix).</summary>
    public int SlotOf(string key) => HolderRegistryKey.SlotOf((keyPrefix ?? string.Empty) + key);

    /// <summary>
    /// The channel prefix (the instance id follows) of the inboxes a write script publishes to, and the command to publish
    /// with: per slot and <c>SPUBLISH</c> on a cluster.
    /// </summary>
    public (string Prefix, string Command) InboxPrefixFor(string key) => IsCluster
        ? (HolderRegistryKey.TagFor(SlotOf(key)) + InvalidationMessage.InboxChannel(channel, string.Empty), "SPUBLISH")
        : (InvalidationMessage.InboxChannel(channel, string.Empty), "PUBLISH");

    /// <summary>
    /// On a cluster: makes sure this instance listens on its inbox in the slot of <paramref name="key"/> before it registers
    /// there as a holder or writes there (a write script publishes to the inboxes in the key's slot). Completes at once
    /// elsewhere, and once subscribed.
    /// </summary>
    public ValueTask EnsureInboxAsync(string key) => IsCluster ? new(EnsureShardInboxAsync(SlotOf(key))) : ValueTask.CompletedTask;

    /// <summary>
    /// On a cluster: Redis found this instance not listening, on the node that serves the slot of <paramref name="key"/>, on
    /// its channel of that slot (the slot moved): subscribes again, where the multiplexer now sends that slot.
    /// </summary>
    public async ValueTask ResubscribeAsync(string key)
    {
        var slot = SlotOf(key);
        if (_shardInboxes.TryRemove(slot, out var old) && old.IsValueCreated && old.Value.IsCompletedSuccessfully)
        {
            await old.Value.Result.UnsubscribeAsync().ConfigureAwait(false);
        }

        await EnsureShardInboxAsync(slot).ConfigureAwait(false);
    }

    /// <summary>This instance's own channel in the slot of <paramref name="key"/> on a cluster, which the scripts check it listens on; empty elsewhere.</summary>
    public string OwnInboxFor(string key) =>
        IsCluster ? HolderRegistryKey.TagFor(SlotOf(key)) + InvalidationMessage.InboxChannel(channel, origin) : string.Empty;

    private Task EnsureShardInboxAsync(int slot)
    {
        var subscription = _shardInboxes.GetOrAdd(slot, s => new Lazy<Task<ChannelMessageQueue>>(() => SubscribeShardInboxAsync(s)));
        var task = subscription.Value;
        if (task.IsFaulted || task.IsCanceled)
        {
            _ = _shardInboxes.TryRemove(KeyValuePair.Create(slot, subscription)); // the next use tries again
        }

        return task;
    }

    private async Task<ChannelMessageQueue> SubscribeShardInboxAsync(int slot)
    {
        var multiplexer = _multiplexer ?? throw new RedisException("The invalidation bus has not started yet.");
        var queue = await multiplexer.GetSubscriber().SubscribeAsync(InboxOf(origin, slot)).ConfigureAwait(false);
        queue.OnMessage(message => OnMessage(message.Message));
        return queue;
    }

    private RedisChannel InboxOf(string who, int? slot) => slot is { } s
        ? RedisChannel.Sharded(HolderRegistryKey.TagFor(s) + InvalidationMessage.InboxChannel(channel, who))
        : RedisChannel.Literal(InvalidationMessage.InboxChannel(channel, who));

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
            // A shard inbox on every master: each then has a subscriber connection of ours for tracking to report to.
            foreach (var slot in FirstSlotOfEachMaster())
            {
                await EnsureShardInboxAsync(slot).ConfigureAwait(false);
            }

            probeChannel = InboxOf(origin, 0);
            await EnsureShardInboxAsync(0).ConfigureAwait(false);
            await ArmClusterTrackingAsync().ConfigureAwait(false);
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

    // Points tracking of the reading connection at the subscriber connection's current client id, found by the multiplexer's
    // client name (Cachee names its own connections uniquely; a multiplexer from ConnectionMultiplexerFactory must carry a
    // name no other subscriber connection has). When that cannot be done (an older Redis, a user without the CLIENT command,
    // an ambiguous name), L1 still serves, coherent among Cachee instances; changes by other clients are then not revoked,
    // which is reported once.
    private async Task ArmTrackingAsync()
    {
        var multiplexer = _multiplexer!;
        try
        {
            var endpoint = multiplexer.GetSubscriber().SubscribedEndpoint(_inbox)
                ?? throw new RedisException("The subscription has no server yet.");
            var server = multiplexer.GetServer(endpoint);
            if (server.IsReplica)
            {
                ReportTrackingUnavailable("the subscription is on a replica, not on the server that serves reads");
                return;
            }

            // Sent as plain commands through the database (IServer's CLIENT methods need admin mode), which runs them on the
            // master's interactive connection: the one every read of this cache goes through, so the one to track.
            var database = multiplexer.GetDatabase();
            _ = await ArmTrackingOnAsync((command, args) => database.ExecuteAsync(command, args), string.Empty).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisServerException or RedisCommandException)
        {
            ReportTrackingUnavailable(ex.Message);
        }
    }

    // Finds this instance's subscriber connection on one server (execute runs a command on that server's interactive
    // connection) by the multiplexer's client name, and points that connection's tracking at it. False when that cannot be
    // done for good (reported); throws to be tried again when our own connection was just replaced.
    private async Task<bool> ArmTrackingOnAsync(Func<string, object[], Task<RedisResult>> execute, string where)
    {
        var name = _multiplexer!.ClientName;
        var mine = SubscriberIds((string?)await execute("CLIENT", ["LIST", "TYPE", "pubsub"]).ConfigureAwait(false), name);
        if (mine.Count != 1 && name != ClientNameFor(origin))
        {
            // A multiplexer from ConnectionMultiplexerFactory whose name other subscriber connections share.
            ReportTrackingUnavailable(
                $"{mine.Count} subscriber connections{where} are named '{name}'; give the multiplexer from ConnectionMultiplexerFactory a unique ClientName");
            return false;
        }

        if (mine.Count != 1)
        {
            // Our own connection, just reconnected: the old one may not have left the list yet. Try again shortly.
            throw new RedisException($"{mine.Count} subscriber connections{where} are named '{name}'.");
        }

        _ = await execute("CLIENT", ["TRACKING", "ON", "REDIRECT", mine[0], "NOLOOP"]).ConfigureAwait(false);
        return true;
    }

    // The ids of the lines of a CLIENT LIST reply whose name is exactly `name`.
    private static List<string> SubscriberIds(string? clientList, string name)
    {
        var ids = new List<string>();
        foreach (var line in (clientList ?? string.Empty).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split(' ');
            if (fields.Contains("name=" + name, StringComparer.Ordinal)
                && fields.FirstOrDefault(field => field.StartsWith("id=", StringComparison.Ordinal)) is { } id)
            {
                ids.Add(id["id=".Length..]);
            }
        }

        return ids;
    }

    private IEnumerable<int> FirstSlotOfEachMaster()
    {
        var multiplexer = _multiplexer!;
        var configuration = multiplexer.GetServers().Select(server => server.ClusterConfiguration).FirstOrDefault(config => config is not null)
            ?? throw new RedisException("The cluster's configuration is not known yet.");
        return configuration.Nodes.Where(node => !node.IsReplica && node.Slots.Count > 0).Select(node => node.Slots[0].From).ToArray();
    }

    // Tracking on every master's interactive connection, redirected to this instance's subscriber connection on that master
    // (Redis sends a key's reports from the node that holds it). Needs the CLIENT command through IServer (admin mode, which
    // Cachee turns on for the connections it makes).
    private async Task ArmClusterTrackingAsync()
    {
        var multiplexer = _multiplexer!;
        var name = multiplexer.ClientName;
        try
        {
            foreach (var server in multiplexer.GetServers().Where(server => !server.IsReplica))
            {
                if (!await ArmTrackingOnAsync((command, args) => server.ExecuteAsync(command, args), $" on {server.EndPoint}").ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is RedisServerException or RedisCommandException)
        {
            ReportTrackingUnavailable(ex.Message);
        }
    }

    private void ReportTrackingUnavailable(string reason)
    {
        if (Interlocked.Exchange(ref _trackingReported, 1) == 0)
        {
            _listener?.OnRevocationUnavailable(reason);
        }
    }

    public bool CanHold(string key) =>
        !IsCluster || _downNodes.IsEmpty || _multiplexer is not { } multiplexer || !IsServedBy(multiplexer, key, _downNodes.ContainsKey);

    private bool IsServedBy(IConnectionMultiplexer multiplexer, string key, Func<System.Net.EndPoint, bool> node) =>
        multiplexer.GetServer(new RedisKey((keyPrefix ?? string.Empty) + key)).EndPoint is { } endpoint && node(endpoint);

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        // On a cluster, only the keys that node serves may have changes go unheard: their copies are dropped and held back
        // until the node is proven back (its own probe, tracking armed again).
        if (IsCluster && e.EndPoint is { } lost && e.ConnectionType is ConnectionType.Subscription or ConnectionType.Interactive)
        {
            _downNodes[lost] = 0;
            if (_multiplexer is { } multiplexer)
            {
                _listener?.OnShardLost(key => IsServedBy(multiplexer, key, endpoint => endpoint.Equals(lost)));
            }

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
            _ = ReprobeNodeUntilLiveAsync(back);
            return;
        }

        if (e.ConnectionType is ConnectionType.Subscription or ConnectionType.Interactive && Interlocked.Exchange(ref _probing, 1) == 0)
        {
            _ = ReprobeUntilLiveAsync();
        }
    }

    // On a cluster, after a node's connection came back: arm tracking again on every master, then prove the node's subscription
    // with a probe through this instance's channel of a slot it serves; only then may its keys be held again.
    private async Task ReprobeNodeUntilLiveAsync(System.Net.EndPoint node)
    {
        try
        {
            while (!_disposed.IsCancellationRequested && _downNodes.ContainsKey(node))
            {
                try
                {
                    await ProbeNodeAsync(node).ConfigureAwait(false);
                    _ = _downNodes.TryRemove(node, out _);
                    return;
                }
                catch (Exception ex) when (ex is TimeoutException or RedisException)
                {
                    await Task.Delay(ReprobeBackoff, _disposed.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    private async Task ProbeNodeAsync(System.Net.EndPoint node)
    {
        var multiplexer = _multiplexer!;
        var slot = multiplexer.GetServer(node).ClusterConfiguration?.Nodes
            .FirstOrDefault(candidate => node.Equals(candidate.EndPoint) && candidate.Slots.Count > 0)?.Slots[0].From
            ?? throw new RedisException("The node serves no slot known yet.");
        await EnsureShardInboxAsync(slot).ConfigureAwait(false);
        await ArmClusterTrackingAsync().ConfigureAwait(false);
        var probe = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var token = Guid.NewGuid().ToString("N");
        _nodeProbes[token] = probe;
        try
        {
            _ = await multiplexer.GetSubscriber().PublishAsync(InboxOf(origin, slot), InvalidationMessage.FormatProbe(origin, token)).ConfigureAwait(false);
            await probe.Task.WaitAsync(probeTimeout, _disposed.Token).ConfigureAwait(false);
        }
        finally
        {
            _ = _nodeProbes.TryRemove(token, out _);
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

        var shardQueues = _shardInboxes.Values.Select(lazy => lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully ? lazy.Value.Result : null);
        foreach (var queue in shardQueues.Append(_queue).Append(_trackingQueue))
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
