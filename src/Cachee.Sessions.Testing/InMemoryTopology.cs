using System.Net;
using Cachee.Sessions.L2;

namespace Cachee.Sessions.Testing;

/// <summary>
/// One node for every key, as in the in-memory model, except keys the test has moved to a node this instance has not proven
/// yet: their copies may not be kept until the move completes (as <c>ClusterTopology</c> holds back an unproven node's keys).
/// </summary>
internal sealed class InMemoryTopology : IKeyTopology
{
    private readonly Lock _gate = new();
    private readonly List<Func<string, bool>> _moving = [];

    public EndPoint? NodeOf(string key) => null;

    public bool CanHold(string key)
    {
        lock (_gate)
        {
            return !_moving.Exists(moving => moving(key));
        }
    }

    public void LayoutMayHaveChanged()
    {
    }

    /// <summary>The keys <paramref name="keys"/> selects now live on a node not proven yet.</summary>
    public void Move(Func<string, bool> keys)
    {
        lock (_gate)
        {
            _moving.Add(keys);
        }
    }

    /// <summary>Every node is proven again.</summary>
    public void ProveAll()
    {
        lock (_gate)
        {
            _moving.Clear();
        }
    }
}
