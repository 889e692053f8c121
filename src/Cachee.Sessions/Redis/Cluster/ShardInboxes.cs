using System.Collections.Concurrent;
using Cachee.Sessions.Invalidation;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis.Cluster;

/// <summary>
/// The channels a writer reaches this instance on, named for both layouts: one literal channel per instance on a single node
/// or Sentinel; on a cluster, a sharded channel per slot in which the instance holds keys (so that a write script publishes
/// on the key's own shard and counts the holders there), plus a home inbox where writers reach it when it has not followed a
/// slot yet. Subscribes the sharded ones and raises <see cref="Received"/> for what arrives on them.
/// </summary>
/// <param name="topology">The layout.</param>
/// <param name="channel">The invalidation channel name the inboxes derive from.</param>
/// <param name="origin">This instance's id.</param>
/// <param name="pump">Where the inboxes' messages are handled.</param>
internal sealed class ShardInboxes(ClusterTopology topology, string channel, string origin, MessagePump pump)
{
    private readonly ConcurrentDictionary<int, Lazy<Task<ChannelMessageQueue>>> _bySlot = new();
    private ChannelMessageQueue? _home;

    /// <summary>A message arrived on one of this instance's sharded inboxes (in order, per inbox).</summary>
    public event Action<RedisValue>? Received;

    /// <summary>
    /// The channel prefix (the instance id follows) of the inboxes a write script publishes to, and the command to publish
    /// with: per slot and <c>SPUBLISH</c> on a cluster.
    /// </summary>
    public (string Prefix, string Command) InboxPrefixFor(string key) => topology.IsCluster
        ? (HashSlot.TagFor(topology.SlotOf(key)) + InvalidationMessage.InboxChannel(channel, string.Empty), "SPUBLISH")
        : (InvalidationMessage.InboxChannel(channel, string.Empty), "PUBLISH");

    /// <summary>This instance's own channel in the slot of <paramref name="key"/> on a cluster, which the scripts check it listens on; empty elsewhere.</summary>
    public string OwnInboxFor(string key) =>
        topology.IsCluster ? HashSlot.TagFor(topology.SlotOf(key)) + InvalidationMessage.InboxChannel(channel, origin) : string.Empty;

    /// <summary>The inbox of instance <paramref name="who"/>: in <paramref name="slot"/> (sharded) on a cluster, else the literal one.</summary>
    public RedisChannel InboxOf(string who, int? slot) => slot is { } s
        ? RedisChannel.Sharded(SlotInboxName(who, s))
        : RedisChannel.Literal(InvalidationMessage.InboxChannel(channel, who));

    /// <summary>The name of instance <paramref name="who"/>'s sharded inbox in <paramref name="slot"/>.</summary>
    public string SlotInboxName(string who, int slot) => HashSlot.TagFor(slot) + InvalidationMessage.InboxChannel(channel, who);

    /// <summary>On a cluster, the home inbox of instance <paramref name="who"/>: a sharded channel it listens on from start-up.</summary>
    public RedisChannel HomeInboxOf(string who) => RedisChannel.Sharded(InvalidationMessage.InboxChannel(channel, who));

    /// <summary>Where this instance's subscriptions are handled (the bus ends it when disposed).</summary>
    public MessagePump Pump => pump;

    /// <summary>The subscriptions to end when the bus is disposed.</summary>
    public IEnumerable<ChannelMessageQueue?> Queues =>
        _bySlot.Values.Select(lazy => lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully ? lazy.Value.Result : null).Append(_home);

    /// <summary>Subscribes this instance's home inbox, once.</summary>
    public async Task SubscribeHomeAsync(IConnectionMultiplexer multiplexer)
    {
        if (_home is null)
        {
            var queue = await multiplexer.GetSubscriber().SubscribeAsync(HomeInboxOf(origin)).ConfigureAwait(false);
            pump.Consume(queue, message => Received?.Invoke(message));
            _home = queue;
        }
    }

    /// <summary>
    /// On a cluster: makes sure this instance listens on its inbox in the slot of <paramref name="key"/> before it registers
    /// there as a holder or writes there. Completes at once elsewhere, and once subscribed.
    /// </summary>
    public ValueTask EnsureInboxAsync(string key) => topology.IsCluster ? new(EnsureSlotAsync(topology.SlotOf(key))) : ValueTask.CompletedTask;

    /// <summary>Subscribes this instance's inbox in <paramref name="slot"/>, once (a failed attempt is tried again on the next use).</summary>
    public Task EnsureSlotAsync(int slot)
    {
        var subscription = _bySlot.GetOrAdd(slot, s => new Lazy<Task<ChannelMessageQueue>>(() => SubscribeSlotAsync(s)));
        var task = subscription.Value;
        if (task.IsFaulted || task.IsCanceled)
        {
            _ = _bySlot.TryRemove(KeyValuePair.Create(slot, subscription));
        }

        return task;
    }

    /// <summary>
    /// On a cluster: Redis found this instance not listening, on the node that serves the slot of <paramref name="key"/>, on
    /// its channel of that slot (the slot moved): subscribes again, where the multiplexer now sends that slot. Unless
    /// <paramref name="force"/>, a subscription the multiplexer already moved there is left alone: unsubscribing it to
    /// subscribe again would drop messages Redis counted as heard, and their writers would wait for acknowledgements in vain.
    /// </summary>
    public ValueTask ResubscribeAsync(string key, bool force = false) => new(ResubscribeSlotAsync(topology.SlotOf(key), force));

    /// <summary>As <see cref="ResubscribeAsync"/>, for a slot.</summary>
    public async Task ResubscribeSlotAsync(int slot, bool force)
    {
        // The multiplexer may still send the slot where it was: have it learn the layout now, once for everyone who asks.
        await topology.RefreshLayoutAsync().ConfigureAwait(false);
        if (!force && IsListeningWhereServed(slot))
        {
            return;
        }

        if (_bySlot.TryRemove(slot, out var old) && old.IsValueCreated && old.Value.IsCompletedSuccessfully)
        {
            await old.Value.Result.UnsubscribeAsync().ConfigureAwait(false);
        }

        await EnsureSlotAsync(slot).ConfigureAwait(false);
    }

    /// <summary>Whether this instance's inbox of <paramref name="slot"/> is subscribed on <paramref name="node"/>.</summary>
    public bool IsSubscribedOn(int slot, System.Net.EndPoint node) =>
        topology.Multiplexer is { } multiplexer && node.Equals(multiplexer.GetSubscriber().SubscribedEndpoint(InboxOf(origin, slot)));

    // Whether this instance's channel of the slot is subscribed, as the multiplexer sees it, on the node it sends the slot to.
    private bool IsListeningWhereServed(int slot)
    {
        if (!_bySlot.TryGetValue(slot, out var current) || !current.IsValueCreated || !current.Value.IsCompletedSuccessfully)
        {
            return false;
        }

        try
        {
            return topology.ServingNodeOfSlot(slot) is { } served && IsSubscribedOn(slot, served);
        }
        catch (RedisException)
        {
            return false;
        }
    }

    private async Task<ChannelMessageQueue> SubscribeSlotAsync(int slot)
    {
        var multiplexer = topology.Multiplexer ?? throw new RedisException("The invalidation bus has not started yet.");
        var queue = await multiplexer.GetSubscriber().SubscribeAsync(InboxOf(origin, slot)).ConfigureAwait(false);
        pump.Consume(queue, message => Received?.Invoke(message));
        return queue;
    }
}
