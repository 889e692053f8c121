namespace Cachee.Sessions.Benchmarks;

/// <summary>The reference policy of the hit-rate benchmark: exact least-recently-used eviction (single-threaded).</summary>
internal sealed class ExactLru<TKey>(int capacity)
    where TKey : notnull
{
    private readonly Dictionary<TKey, LinkedListNode<TKey>> _nodes = new(capacity);
    private readonly LinkedList<TKey> _order = new();

    /// <summary>Reads a key: true on a hit (which makes it the most recent), false on a miss (which inserts it).</summary>
    public bool Access(TKey key)
    {
        if (_nodes.TryGetValue(key, out var node))
        {
            _order.Remove(node);
            _order.AddFirst(node);
            return true;
        }

        if (_nodes.Count == capacity)
        {
            var last = _order.Last!;
            _order.RemoveLast();
            _ = _nodes.Remove(last.Value);
        }

        _nodes[key] = _order.AddFirst(key);
        return false;
    }
}
