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

    private readonly ConcurrentDictionary<string, byte> _keys = new(StringComparer.Ordinal);

    public bool Contains(string key) => !_keys.IsEmpty && _keys.ContainsKey(key);

    /// <summary>Records what a read or a write saw: a value of <paramref name="length"/> bytes against the threshold.</summary>
    public void Saw(string key, int length, int threshold)
    {
        if (length < threshold)
        {
            _ = _keys.TryRemove(key, out _);
            return;
        }

        if (_keys.Count >= capacity)
        {
            _keys.Clear();
        }

        _keys[key] = 0;
    }

    /// <summary>The key no longer exists.</summary>
    public void Forget(string key) => _ = _keys.TryRemove(key, out _);
}
