using System.Collections.Concurrent;
using System.Net;
using Cachee.Sessions.L2;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis.Cluster;

/// <summary>
/// The layout of the Redis deployment as this instance sees it: whether it is a cluster, the slot and node of a key, and
/// which nodes are proven (this instance hears the changes of their keys). Built first; the store, the bus, the inboxes
/// and the circuit breakers are handed it. Outside a cluster every key is served by one node and may always be held.
/// </summary>
/// <param name="keyPrefix">The instance prefix every cache key is stored under.</param>
internal sealed class ClusterTopology(string? keyPrefix) : IKeyTopology
{
    private static readonly TimeSpan FailoverPollInterval = TimeSpan.FromMilliseconds(500);
    private readonly ConcurrentDictionary<EndPoint, byte> _provenNodes = new();
    private readonly Lock _gate = new();
    private IConnectionMultiplexer? _multiplexer;
    private bool _cluster;
    private Task? _layoutRefresh;
    private DateTime _layoutRefreshStarted;

    /// <summary>A key of an unproven node that is connected was wanted: the bus proves the node (through the given slot).</summary>
    public event Action<EndPoint, int>? NodeNeedsProof;

    /// <summary>True on a Redis Cluster (known once <see cref="Learn"/> ran).</summary>
    public bool IsCluster => Volatile.Read(ref _cluster);

    /// <summary>The multiplexer the layout is read from, once known.</summary>
    public IConnectionMultiplexer? Multiplexer => Volatile.Read(ref _multiplexer);

    /// <summary>Takes the connection the layout is read from, and whether it reaches a cluster; called when the bus starts.</summary>
    public void Learn(IConnectionMultiplexer multiplexer, bool cluster)
    {
        Volatile.Write(ref _multiplexer, multiplexer);
        Volatile.Write(ref _cluster, cluster);
    }

    /// <summary>The cluster slot of a cache key (with the instance prefix).</summary>
    public int SlotOf(string key) => HashSlot.Of((keyPrefix ?? string.Empty) + key);

    /// <inheritdoc/>
    public EndPoint? NodeOf(string key) => IsCluster ? ServingNode(key) : null;

    /// <inheritdoc/>
    /// <remarks>
    /// A node is proven once this instance listens on its inbox there, tracking is armed on the connection that reads from
    /// it, and a probe came back through it; it stops being proven when a connection to it drops. A node not proven yet (a
    /// replica just promoted, a node just back, a node a slot moved to) is proven in the background meanwhile.
    /// </remarks>
    public bool CanHold(string key)
    {
        if (!IsCluster || Multiplexer is not { } multiplexer)
        {
            return true;
        }

        if (ServingNode(key) is not { } node)
        {
            return false;
        }

        if (_provenNodes.ContainsKey(node))
        {
            return true;
        }

        if (multiplexer.GetServer(node).IsConnected)
        {
            NodeNeedsProof?.Invoke(node, SlotOf(key));
        }

        return false;
    }

    /// <summary>Whether <paramref name="node"/> is proven.</summary>
    public bool IsProven(EndPoint node) => _provenNodes.ContainsKey(node);

    /// <summary>The changes of the keys <paramref name="node"/> serves are heard from now on.</summary>
    public void MarkProven(EndPoint node) => _provenNodes[node] = 0;

    /// <summary>A connection to <paramref name="node"/> dropped: changes of its keys may go unheard until it is proven again.</summary>
    public void MarkLost(EndPoint node) => _provenNodes.TryRemove(node, out _);

    /// <summary>Whether <paramref name="key"/> is served by <paramref name="node"/> now.</summary>
    public bool IsServedBy(string key, EndPoint node) => ServingNode(key) is { } endpoint && endpoint.Equals(node);

    /// <summary>The node the multiplexer sends <paramref name="key"/>'s commands to now; null when it knows none yet.</summary>
    public EndPoint? ServingNode(string key) => ServingNodeOf(new RedisKey((keyPrefix ?? string.Empty) + key));

    /// <summary>The node the multiplexer sends the commands of <paramref name="slot"/> to now; null when it knows none yet.</summary>
    public EndPoint? ServingNodeOfSlot(int slot) => ServingNodeOf(new RedisKey(HashSlot.TagFor(slot)));

    /// <summary>The masters that serve slots, from the cluster's configuration.</summary>
    public IReadOnlyList<EndPoint> Masters()
    {
        var configuration = Multiplexer!.GetServers().Select(server => server.ClusterConfiguration).FirstOrDefault(config => config is not null)
            ?? throw new RedisException("The cluster's configuration is not known yet.");
        return configuration.Nodes.Where(node => !node.IsReplica && node.Slots.Count > 0 && node.EndPoint is not null).Select(node => node.EndPoint!).ToArray();
    }

    /// <summary>A slot <paramref name="node"/> serves, from the cluster's configuration.</summary>
    public int FirstSlotOf(EndPoint node) =>
        Multiplexer!.GetServer(node).ClusterConfiguration?.Nodes
            .FirstOrDefault(candidate => node.Equals(candidate.EndPoint) && candidate.Slots.Count > 0)?.Slots[0].From
        ?? throw new RedisException("The node serves no slot known yet.");

    /// <inheritdoc/>
    /// <remarks>After a graceful failover no connection drops to make the multiplexer learn the new layout; it learns it now.</remarks>
    public void LayoutMayHaveChanged()
    {
        if (IsCluster)
        {
            _ = RefreshLayoutAsync().ContinueWith(
                static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Has the multiplexer learn the layout: one refresh at a time for everyone who asks, and one that has run for a second
    /// (a node that does not answer during a failover) no longer holds the others back. Waits half a second at most.
    /// </summary>
    public async Task RefreshLayoutAsync()
    {
        Task pending;
        lock (_gate)
        {
            if (_layoutRefresh is not { IsCompleted: false } || DateTime.UtcNow - _layoutRefreshStarted > TimeSpan.FromSeconds(1))
            {
                _layoutRefresh = Multiplexer is ConnectionMultiplexer multiplexer ? multiplexer.ConfigureAsync() : Task.FromResult(false);
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
    /// After <paramref name="lost"/>'s connection dropped: learns the layout every half second while it stays unreachable,
    /// so that its slots' calls go to the replica that takes them over as soon as it has. Ends when the node is back, after
    /// a minute, or when <paramref name="token"/> is cancelled.
    /// </summary>
    public async Task FollowFailoverAsync(EndPoint lost, CancellationToken token)
    {
        try
        {
            var until = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            while (!token.IsCancellationRequested && DateTime.UtcNow < until && !Multiplexer!.GetServer(lost).IsConnected)
            {
                await Task.Delay(FailoverPollInterval, token).ConfigureAwait(false);
                await RefreshLayoutAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or RedisException or ObjectDisposedException)
        {
            // Disposed, or the multiplexer is closing.
        }
    }

    private EndPoint? ServingNodeOf(RedisKey key)
    {
        try
        {
            return Multiplexer?.GetServer(key).EndPoint;
        }
        catch (RedisException)
        {
            return null;
        }
    }
}
