using System.Collections.Concurrent;

namespace Cachee.Sessions.L2;

/// <summary>
/// One <see cref="CircuitBreaker"/> per Redis node that serves keys: on a Redis Cluster, a master that fails (killed, in an
/// election) opens the breaker of its own keys only, and calls for the other shards' keys go on; on a single node or
/// Sentinel, one breaker for all. The node of a key is asked for on each call to Redis, so once a failover or a slot move
/// sends a key to another node, the key's calls use that node's breaker.
/// </summary>
/// <param name="threshold">Failures in a row that open a breaker.</param>
/// <param name="breakDuration">How long an open breaker fails calls at once.</param>
/// <param name="time">The clock.</param>
/// <param name="topology">The node that serves a key; told when a node's breaker opens (its layout may have changed).</param>
internal sealed class CircuitBreakers(int threshold, TimeSpan breakDuration, TimeProvider time, IKeyTopology topology)
{
    private readonly CircuitBreaker _all = new(threshold, breakDuration, time);
    private readonly ConcurrentDictionary<System.Net.EndPoint, CircuitBreaker> _perNode = new();

    /// <summary>The breaker of the node that serves <paramref name="key"/>.</summary>
    public CircuitBreaker For(string key)
    {
        if (topology.NodeOf(key) is not { } node)
        {
            return _all;
        }

        return _perNode.TryGetValue(node, out var breaker) ? breaker : _perNode.GetOrAdd(node, _ => new CircuitBreaker(threshold, breakDuration, time));
    }

    /// <summary>The worst state among the breakers: open if one is, else half-open if one is, else closed.</summary>
    public BreakerState Worst()
    {
        var worst = _all.State;
        foreach (var breaker in _perNode.Values)
        {
            var state = breaker.State;
            worst = state == BreakerState.Open || (state == BreakerState.HalfOpen && worst == BreakerState.Closed) ? state : worst;
        }

        return worst;
    }

    /// <summary>A breaker just opened.</summary>
    public void Opened() => topology.LayoutMayHaveChanged();

    /// <summary>Redis answered outside of a call (the subscription's probe came back): closes every open breaker; true when one was.</summary>
    public bool AllSucceeded()
    {
        var closed = _all.Succeeded();
        foreach (var breaker in _perNode.Values)
        {
            closed |= breaker.Succeeded();
        }

        return closed;
    }
}
