using Cachee.Sessions.Invalidation;
using Cachee.Sessions.Redis.Cluster;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis;

// On a Redis Cluster: a sharded channel per slot in use, and liveness per node.
internal sealed partial class RedisInvalidationBus
{
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
    /// its channel of that slot (the slot moved): subscribes again, where the multiplexer now sends that slot. Unless
    /// <paramref name="force"/>, a subscription the multiplexer already moved there (it follows Redis' notice that the slot
    /// left) is left alone: unsubscribing it to subscribe again would drop the messages that reach it in between, which Redis
    /// counted as heard, so their writers would wait for acknowledgements that never come.
    /// </summary>
    public ValueTask ResubscribeAsync(string key, bool force = false) => new(ResubscribeSlotAsync(SlotOf(key), force));

    private async Task ResubscribeSlotAsync(int slot, bool force)
    {
        // The multiplexer may still send the slot where it was (it follows a MOVED reply for the one command, and learns the
        // new layout later, seconds later after a failover): have it learn the layout now, once for everyone who asks.
        await RefreshLayoutAsync().ConfigureAwait(false);
        if (!force && IsListeningWhereServed(slot))
        {
            return;
        }

        if (_shardInboxes.TryRemove(slot, out var old) && old.IsValueCreated && old.Value.IsCompletedSuccessfully)
        {
            await old.Value.Result.UnsubscribeAsync().ConfigureAwait(false);
        }

        await EnsureShardInboxAsync(slot).ConfigureAwait(false);
    }

    // Whether this instance's channel of the slot is subscribed, as the multiplexer sees it, on the node it sends the slot to.
    private bool IsListeningWhereServed(int slot)
    {
        if (_multiplexer is not { } multiplexer || !_shardInboxes.TryGetValue(slot, out var current)
            || !current.IsValueCreated || !current.Value.IsCompletedSuccessfully)
        {
            return false;
        }

        try
        {
            var served = multiplexer.GetServer(new RedisKey(HolderRegistryKey.TagFor(slot))).EndPoint;
            return served.Equals(multiplexer.GetSubscriber().SubscribedEndpoint(InboxOf(origin, slot)));
        }
        catch (RedisException)
        {
            return false;
        }
    }

    // After a node's connection dropped: while it stays unreachable, have the multiplexer learn the cluster's layout every
    // half second, so that the calls for its slots go to the replica that takes them over as soon as it has (left alone, the
    // multiplexer learns it seconds later, and the calls fail meanwhile). Ends when the node is back, or after a minute.
    private async Task FollowFailoverAsync(System.Net.EndPoint lost)
    {
        try
        {
            var until = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            while (!_disposed.IsCancellationRequested && DateTime.UtcNow < until && !_multiplexer!.GetServer(lost).IsConnected)
            {
                await Task.Delay(FailoverPollInterval, _disposed.Token).ConfigureAwait(false);
                await RefreshLayoutAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or RedisException or ObjectDisposedException)
        {
            // Disposed, or the multiplexer is closing.
        }
    }

    /// <summary>
    /// On a cluster: a node answered as a replica where the multiplexer expected the master (READONLY), or a node's calls
    /// failed until its circuit breaker opened. After a graceful failover no connection drops to make the multiplexer learn
    /// the new layout; it learns it now (in the background), so that the next call for the key goes to the new master.
    /// </summary>
    public void LayoutMayHaveChanged()
    {
        if (IsCluster)
        {
            _ = RefreshLayoutAsync().ContinueWith(
                static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
    }

    // One layout refresh at a time for everyone who asks; one that has run for a second without completing (a node that
    // does not answer during a failover) no longer holds the others back: the next caller starts another. Callers wait for
    // it half a second at most, then go on with the layout the multiplexer has.
    private async Task RefreshLayoutAsync()
    {
        Task pending;
        lock (_gate)
        {
            if (_layoutRefresh is not { IsCompleted: false } running || DateTime.UtcNow - _layoutRefreshStarted > TimeSpan.FromSeconds(1))
            {
                _layoutRefresh = _multiplexer is ConnectionMultiplexer multiplexer ? multiplexer.ConfigureAsync() : Task.FromResult(false);
                _layoutRefreshStarted = DateTime.UtcNow;
            }

            pending = _layoutRefresh;
        }

        try
        {
            await pending.WaitAsync(TimeSpan.FromMilliseconds(500)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Still learning: the caller goes on, and tries again later.
        }
    }

    /// <summary>
    /// On a cluster, the home inbox of the instance <paramref name="who"/>: a sharded channel of its own (in the slot its name
    /// hashes to) that it listens on from start-up on, whatever keys it holds. A writer tells a holder there when the holder
    /// does not listen on its channel of the key's slot where the key is now (the slot moved or failed over and the holder
    /// has not followed yet), yet may still hold a copy (see RedisScripts.NotifyHolders).
    /// </summary>
    public RedisChannel HomeInboxOf(string who) => RedisChannel.Sharded(InvalidationMessage.InboxChannel(channel, who));

    private async Task SubscribeHomeInboxAsync(IConnectionMultiplexer multiplexer)
    {
        if (_homeQueue is null)
        {
            var queue = await multiplexer.GetSubscriber().SubscribeAsync(HomeInboxOf(origin)).ConfigureAwait(false);
            queue.OnMessage(message => OnMessage(message.Message));
            _homeQueue = queue;
        }
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

    private IEnumerable<System.Net.EndPoint> Masters()
    {
        var configuration = _multiplexer!.GetServers().Select(server => server.ClusterConfiguration).FirstOrDefault(config => config is not null)
            ?? throw new RedisException("The cluster's configuration is not known yet.");
        return configuration.Nodes.Where(node => !node.IsReplica && node.Slots.Count > 0 && node.EndPoint is not null).Select(node => node.EndPoint!).ToArray();
    }

    /// <summary>
    /// On a cluster: whether the node that serves <paramref name="key"/> (as the multiplexer sees it now) is proven, so that
    /// changes of the key are heard. A node is proven once this instance listens on its inbox there, tracking is armed on the
    /// connection that reads from it, and a probe came back through it; it stops being proven when a connection to it drops.
    /// A node not proven yet (a replica just promoted by a failover, a node just back, a node the slot moved to) is proven
    /// in the background, and the key's copies are held back meanwhile.
    /// </summary>
    public bool CanHold(string key)
    {
        if (!IsCluster || _multiplexer is not { } multiplexer)
        {
            return true;
        }

        if (ServingNode(multiplexer, key) is not { } node)
        {
            return false;
        }

        if (_provenNodes.ContainsKey(node))
        {
            return true;
        }

        if (multiplexer.GetServer(node).IsConnected)
        {
            StartProving(node, SlotOf(key));
        }

        return false;
    }

    public object? NodeOf(string key) => IsCluster && _multiplexer is { } multiplexer ? ServingNode(multiplexer, key) : null;

    private bool IsServedBy(IConnectionMultiplexer multiplexer, string key, Func<System.Net.EndPoint, bool> node) =>
        ServingNode(multiplexer, key) is { } endpoint && node(endpoint);

    // The node the multiplexer sends the key's commands to now; null when it knows none (no connection to any node yet).
    private System.Net.EndPoint? ServingNode(IConnectionMultiplexer multiplexer, string key)
    {
        try
        {
            return multiplexer.GetServer(new RedisKey((keyPrefix ?? string.Empty) + key)).EndPoint;
        }
        catch (RedisException)
        {
            return null;
        }
    }

    // Proves the node in the background (once at a time), through the given slot, or a slot its cluster configuration says
    // it serves.
    private void StartProving(System.Net.EndPoint node, int? slot = null)
    {
        if (_provingNodes.TryAdd(node, 0))
        {
            _ = ProveUntilLiveAsync(node, slot);
        }
    }

    // Proves the node, trying again shortly until it is proven, the bus is disposed, or a bounded number of attempts failed
    // (a node that is not a master, or not reachable: it is tried again when it is back, or when a key it serves is wanted).
    private async Task ProveUntilLiveAsync(System.Net.EndPoint node, int? slot)
    {
        try
        {
            for (var attempt = 0; attempt < MaxProveAttempts && !_disposed.IsCancellationRequested && !_provenNodes.ContainsKey(node); attempt++)
            {
                try
                {
                    await ProveNodeAsync(node, slot).ConfigureAwait(false);
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
        finally
        {
            _ = _provingNodes.TryRemove(node, out _);
        }
    }

    // Listens on this instance's inbox in a slot the node serves (which also gives tracking a subscriber connection of ours to
    // report to there), arms tracking on the node's interactive connection, and waits for a probe to come back through that
    // inbox. Reads begun before are then not installed (they may have gone untracked), and the node's keys may be held.
    private async Task ProveNodeAsync(System.Net.EndPoint node, int? slotServed = null)
    {
        var multiplexer = _multiplexer!;
        var losses = Interlocked.Read(ref _nodeLosses);
        var server = multiplexer.GetServer(node);
        var slot = slotServed ?? server.ClusterConfiguration?.Nodes
            .FirstOrDefault(candidate => node.Equals(candidate.EndPoint) && candidate.Slots.Count > 0)?.Slots[0].From
            ?? throw new RedisException("The node serves no slot known yet.");
        await EnsureShardInboxAsync(slot).ConfigureAwait(false);
        if (!node.Equals(multiplexer.GetSubscriber().SubscribedEndpoint(InboxOf(origin, slot))))
        {
            // The inbox of that slot is still subscribed where the slot was before (a failover, a slot moved).
            await ResubscribeSlotAsync(slot, force: true).ConfigureAwait(false);
        }

        try
        {
            _ = await ArmTrackingOnAsync((command, args) => server.ExecuteAsync(command, args), $" on {node}").ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisServerException or RedisCommandException)
        {
            ReportTrackingUnavailable(ex.Message);
        }

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

        // A connection lost while the probe was under way makes it worthless (that node may be this one).
        if (Interlocked.Read(ref _nodeLosses) != losses)
        {
            throw new RedisException("A connection was lost while the node was being proven.");
        }

        _provenNodes[node] = 0;
        _listener?.OnShardProven();
    }
}
