using System.Collections.Concurrent;

namespace Cachee.Sessions.Redis;

/// <summary>
/// The keys this instance last saw holding a large value (read or written), whose next reads fetch the value over the
/// large-value connections. A hint only: a key missing here is read over the shared connection, whatever its size. Bounded:
/// when full, it starts again empty.
/// </summary>
internal sealed class LargeKeyHints(int capacity = LargeKeyHints.DefaultCapacity)
{
    /// <summary>How many keys are remembered at most.</summary>
    public const int DefaultCapacity = 65_536;

    // Lock-free lookups only on the paths every read and write take (ContainsKey), and a count of our own: the dictionary's
    // Count and IsEmpty take all its locks.
    private readonly ConcurrentDictionary<string, byte> _keys = new(StringComparer.Ordinal);
    private int _count;

    public bool Contains(string key) => _keys.ContainsKey(key);

    /// <summary>Records what a read or a write saw: a value of <paramref name="length"/> bytes against the threshold.</summary>
    public void Saw(string key, int length, int threshold)
    {
        if (length < threshold)
        {
            Forget(key);
            return;
        }

        if (_keys.ContainsKey(key))
        {
            return;
        }

        if (Volatile.Read(ref _count) >= capacity)
        {
            _keys.Clear();
            Volatile.Write(ref _count, 0);
        }

        if (_keys.TryAdd(key, 0))
        {
            _ = Interlocked.Increment(ref _count);
        }
    }

    /// <summary>The key no longer exists.</summary>
    public void Forget(string key)
    {
        if (_keys.ContainsKey(key) && _keys.TryRemove(key, out _))
        {
            _ = Interlocked.Decrement(ref _count);
        }
    }
}
