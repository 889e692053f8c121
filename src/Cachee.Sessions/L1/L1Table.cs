namespace Cachee.Sessions.L1;

/// <summary>
/// The arrays of one stripe: bucket heads and slots. A stripe replaces its table when it grows; the old one is never written
/// again and is marked <see cref="Moved"/>, so a reader that was in it looks again in the new one.
/// </summary>
internal sealed class L1Table
{
    public L1Table(int capacity)
    {
        Buckets = new int[capacity];
        Slots = new L1Slot[capacity];
    }

    /// <summary>Per bucket, the index + 1 of its first slot; 0 for an empty bucket.</summary>
    public int[] Buckets { get; }

    public L1Slot[] Slots { get; }

    /// <summary>Set once a bigger table replaced this one.</summary>
    public bool Moved;

    public int BucketOf(ulong hash) => (int)(hash >> 24) & (Buckets.Length - 1);
}
