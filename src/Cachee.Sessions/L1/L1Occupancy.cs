namespace Cachee.Sessions.L1;

/// <summary>What L1 holds against its limits: value bytes and entries. Changed under a stripe lock, read anywhere.</summary>
internal sealed class L1Occupancy(long maxBytes, long maxEntries)
{
    private long _bytes;
    private long _count;

    public long Bytes => Interlocked.Read(ref _bytes);

    public long Count => Interlocked.Read(ref _count);

    public long MaxEntries => maxEntries;

    /// <summary>True while L1 holds more than its limits allow (eviction is due).</summary>
    public bool IsOverLimits => Bytes > maxBytes || Count > maxEntries;

    /// <summary>True when a new entry of <paramref name="size"/> bytes would not fit without an eviction.</summary>
    public bool IsFullFor(long size) => Count >= maxEntries || Bytes + size > maxBytes;

    /// <summary>An entry of <paramref name="size"/> bytes was stored, replacing <paramref name="replaced"/> bytes (a new key when <paramref name="added"/>).</summary>
    public void Stored(long size, long replaced, bool added)
    {
        _ = Interlocked.Add(ref _bytes, size - replaced);
        if (added)
        {
            _ = Interlocked.Increment(ref _count);
        }
    }

    /// <summary>An entry of <paramref name="size"/> bytes left.</summary>
    public void Removed(long size)
    {
        _ = Interlocked.Add(ref _bytes, -size);
        _ = Interlocked.Decrement(ref _count);
    }
}
