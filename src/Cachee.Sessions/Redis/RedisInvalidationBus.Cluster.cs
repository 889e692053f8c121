using Cachee.Sessions.Invalidation;
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

    private IEnumerable<int> FirstSlotOfEachMaster()
    {
        var multiplexer = _multiplexer!;
        var configuration = multiplexer.GetServers().Select(server => server.ClusterConfiguration).FirstOrDefault(config => config is not null)
            ?? throw new RedisException("The cluster's configuration is not known yet.");
        return configuration.Nodes.Where(node => !node.IsReplica && node.Slots.Count > 0).Select(node => node.Slots[0].From).ToArray();
    }

    public bool CanHold(string key) =>
        !IsCluster || _downNodes.IsEmpty || _multiplexer is not { } multiplexer || !IsServedBy(multiplexer, key, _downNodes.ContainsKey);

    private bool IsServedBy(IConnectionMultiplexer multiplexer, string key, Func<System.Net.EndPoint, bool> node) =>
        multiplexer.GetServer(new RedisKey((keyPrefix ?? string.Empty) + key)).EndPoint is { } endpoint && node(endpoint);

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
}
