using System.Net;

namespace Cachee.Sessions.L2;

/// <summary>Which Redis node serves a key, and whether its changes are heard: one node for all, or a Redis Cluster's shards.</summary>
internal interface IKeyTopology
{
    /// <summary>The node that serves <paramref name="key"/> now; null where one node serves every key.</summary>
    EndPoint? NodeOf(string key);

    /// <summary>
    /// False while changes of <paramref name="key"/> may go unheard although invalidations are heard as a whole (its node
    /// lost a connection, or is not proven yet): no copy of it may be kept meanwhile.
    /// </summary>
    bool CanHold(string key);

    /// <summary>Calls to a node failed until its breaker opened: the node may have become a replica, so the layout is learnt again.</summary>
    void LayoutMayHaveChanged();
}

/// <summary>One node serves every key (a single Redis, Sentinel, or the in-memory model).</summary>
internal sealed class SingleNodeTopology : IKeyTopology
{
    /// <summary>The one instance.</summary>
    public static readonly SingleNodeTopology Instance = new();

    private SingleNodeTopology()
    {
    }

    public EndPoint? NodeOf(string key) => null;

    public bool CanHold(string key) => true;

    public void LayoutMayHaveChanged()
    {
    }
}
