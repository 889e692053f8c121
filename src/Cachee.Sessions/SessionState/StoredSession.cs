namespace Cachee.Sessions.SessionState;

/// <summary>Where a loaded session was found.</summary>
internal enum SessionLayout
{
    /// <summary>Nowhere: a new session, or one that expired.</summary>
    None,

    /// <summary>Key by key: an index and an entry per key.</summary>
    PerKey,

    /// <summary>One value in <c>DistributedSession</c>'s format.</summary>
    Legacy,

    /// <summary>Redis could not be asked: the session is not available to this request.</summary>
    Unavailable,
}

/// <summary>
/// A session as the request's load found it. Key by key, only the index is read at once; each value's read is started then
/// (an L1 hit completes at once, without I/O) and awaited only if the request asks for that key. In
/// <c>DistributedSession</c>'s format every value came with the session.
/// </summary>
internal sealed class StoredSession
{
    private readonly HashSet<string> _names;

    private StoredSession(SessionLayout layout, byte[]? id, IReadOnlyList<string> names)
    {
        Layout = layout;
        Id = id;
        Names = names;
        _names = new HashSet<string>(names, StringComparer.Ordinal);
    }

    public SessionLayout Layout { get; }

    /// <summary>The stored id; null when none was stored.</summary>
    public byte[]? Id { get; }

    /// <summary>The key names, in stored order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>In <see cref="SessionLayout.Legacy"/>: every value.</summary>
    public Dictionary<string, byte[]>? Values { get; private init; }

    /// <summary>In <see cref="SessionLayout.PerKey"/>: the read of each value, started at load.</summary>
    public Dictionary<string, Task<byte[]?>>? Reads { get; private init; }

    /// <summary>What was stored could not be read: the next commit writes the session anew.</summary>
    public bool Unreadable { get; private init; }

    public static StoredSession Missing { get; } = new(SessionLayout.None, null, []);

    public static StoredSession Unavailable { get; } = new(SessionLayout.Unavailable, null, []);

    public static StoredSession Corrupt(SessionLayout layout) => new(layout, null, []) { Unreadable = true };

    public static StoredSession PerKey(SessionIndex index, Dictionary<string, Task<byte[]?>> reads) =>
        new(SessionLayout.PerKey, index.Id, index.Names) { Reads = reads };

    public static StoredSession Legacy(byte[] id, List<KeyValuePair<string, byte[]>> entries)
    {
        var values = new Dictionary<string, byte[]>(entries.Count, StringComparer.Ordinal);
        var names = new List<string>(entries.Count);
        foreach (var (name, value) in entries)
        {
            if (values.TryAdd(name, value))
            {
                names.Add(name);
            }
        }

        return new(SessionLayout.Legacy, id, names) { Values = values };
    }

    public bool Has(string name) => _names.Contains(name);
}
