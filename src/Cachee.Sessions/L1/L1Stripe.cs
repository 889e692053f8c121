using System.Runtime.CompilerServices;

namespace Cachee.Sessions.L1;

/// <summary>
/// A slice of L1 (the keys whose hash picks it): a chained hash table in one array of <see cref="L1Slot"/> structs (bucket
/// heads included), its lock, and its CLOCK hand. Every method here runs under <see cref="Gate"/>. The array is published in
/// the store's table of arrays for lock-free readers (see <see cref="L1Store"/>); when it grows, a new array replaces it and
/// the old one is never written again, so a reader that finds its array replaced looks again.
/// </summary>
internal sealed class L1Stripe
{
    private const int InitialCapacity = 16;
    private readonly L1Slot[][] _published;
    private readonly int _index;
    private L1Slot[] _slots = new L1Slot[InitialCapacity];
    private int _used;
    private int _free = -1;
    private int _hand;

    public L1Stripe(L1Slot[][] published, int index)
    {
        _published = published;
        _index = index;
        Volatile.Write(ref _published[_index], _slots);
    }

    public Lock Gate { get; } = new();

    /// <summary>The bucket a hash falls in, in an array of <paramref name="length"/> slots (a power of two).</summary>
    public static int BucketOf(ulong hash, int length) => (int)(hash >> 24) & (length - 1);

    /// <summary>The index of <paramref name="key"/>'s slot, or -1.</summary>
    public int Find(string key, ulong hash)
    {
        var slots = _slots;
        for (var i = slots[BucketOf(hash, slots.Length)].Head - 1; i >= 0; i = slots[i].Next - 1)
        {
            if (string.Equals(slots[i].Key, key, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The slot at <paramref name="index"/> (from <see cref="Find"/>), to read or change under the lock.</summary>
    public ref L1Slot At(int index) => ref _slots[index];

    /// <summary>Reads the copy at <paramref name="index"/>.</summary>
    public L1Entry Read(int index)
    {
        ref var slot = ref _slots[index];
        return new L1Entry(slot.Key!, BytesOf(slot.Value!), slot.Version, slot.Epoch, slot.ValidUntil, (long)slot.RefreshLeadMs * TimeSpan.TicksPerMillisecond);
    }

    /// <summary>Puts <paramref name="entry"/> in the key's slot (replacing what was there) or in a new one; returns the replaced size.</summary>
    public long Put(in L1Entry entry, ulong hash, out bool added)
    {
        var index = Find(entry.Key, hash);
        added = index < 0;
        if (!added)
        {
            ref var slot = ref _slots[index];
            var replaced = BytesOf(slot.Value!).Length;
            Write(ref slot, entry);
            return replaced;
        }

        index = Allocate();
        var slots = _slots;
        ref var fresh = ref slots[index];
        Write(ref fresh, entry);
        ref var head = ref slots[BucketOf(hash, slots.Length)].Head;
        Volatile.Write(ref fresh.Next, head);
        Volatile.Write(ref head, index + 1);
        return 0;
    }

    /// <summary>Frees the slot at <paramref name="index"/> (which holds a key with this <paramref name="hash"/>); returns its size.</summary>
    public long RemoveAt(int index, ulong hash)
    {
        var slots = _slots;
        ref var slot = ref slots[index];
        var size = BytesOf(slot.Value!).Length;
        ref var link = ref slots[BucketOf(hash, slots.Length)].Head;
        while (link - 1 != index)
        {
            link = ref slots[link - 1].Next;
        }

        Volatile.Write(ref link, slot.Next);
        var seq = L1Slot.WriteBegin(ref slot);
        Volatile.Write(ref slot.Key, null);
        Volatile.Write(ref slot.Value, null);
        Volatile.Write(ref slot.Next, _free + 1);
        L1Slot.WriteEnd(ref slot, seq);
        _free = index;
        return size;
    }

    /// <summary>
    /// Ends a background renewal of the copy at <paramref name="index"/>: moves its validity to <paramref name="validUntil"/>
    /// when given, stops its renewals when <paramref name="final"/>, and lets hits ask for a renewal again.
    /// </summary>
    public void CompleteRefresh(int index, long? validUntil, bool final)
    {
        ref var slot = ref _slots[index];
        var seq = L1Slot.WriteBegin(ref slot);
        if (validUntil is { } until)
        {
            Volatile.Write(ref slot.ValidUntil, until);
            if (final)
            {
                Volatile.Write(ref slot.RefreshLeadMs, 0);
            }
        }

        Volatile.Write(ref slot.RefreshQueued, (byte)0);
        L1Slot.WriteEnd(ref slot, seq);
    }

    /// <summary>
    /// Advances the CLOCK hand, clearing the bits it passes, to a copy not hit since the hand last passed it; -1 after one
    /// full turn without one (every bit is clear then, and the evictor moves to the next stripe, so that the stripes
    /// together behave like one clock).
    /// </summary>
    public int NextVictim()
    {
        var slots = _slots;
        for (var step = 0; step < _used; step++)
        {
            if (_hand >= _used)
            {
                _hand = 0;
            }

            ref var candidate = ref slots[_hand];
            if (candidate.Key is not null)
            {
                if (candidate.Accessed == 0)
                {
                    return _hand;
                }

                candidate.Accessed = 0;
            }

            _hand++;
        }

        return -1;
    }

    /// <summary>
    /// Evicts the slot at <paramref name="index"/> (from <see cref="NextVictim"/>) and moves the hand past it, so that the
    /// copy that reuses the slot next starts a full turn of the hand away from eviction, as a new page does in CLOCK.
    /// </summary>
    public long Evict(int index, ulong hash)
    {
        _hand = index + 1;
        return RemoveAt(index, hash);
    }

    /// <summary>The indexes of the slots for which <paramref name="predicate"/> holds.</summary>
    public void Collect(Func<L1Slot, bool> predicate, List<int> into)
    {
        var slots = _slots;
        for (var i = 0; i < _used; i++)
        {
            if (slots[i].Key is not null && predicate(slots[i]))
            {
                into.Add(i);
            }
        }
    }

    /// <summary>The bytes of a stored value (a <c>byte[]</c>, or a completed task holding one).</summary>
    public static byte[] BytesOf(object value) =>
        value.GetType() == typeof(byte[]) ? Unsafe.As<byte[]>(value) : ((Task<byte[]?>)value).Result!;

    private static void Write(ref L1Slot slot, in L1Entry entry)
    {
        var seq = L1Slot.WriteBegin(ref slot);
        Volatile.Write(ref slot.Key, entry.Key);
        Volatile.Write(ref slot.Value, entry.Value);
        Volatile.Write(ref slot.ValidUntil, entry.ValidUntil);
        Volatile.Write(ref slot.Version, entry.Version);
        Volatile.Write(ref slot.RefreshLeadMs, LeadMilliseconds(entry.RefreshLead));
        Volatile.Write(ref slot.Epoch, (ushort)entry.Epoch);
        Volatile.Write(ref slot.Accessed, (byte)0);
        Volatile.Write(ref slot.RefreshQueued, (byte)0);
        L1Slot.WriteEnd(ref slot, seq);
    }

    /// <summary>Milliseconds, rounded up (a renewal asked for early is safe, late is not); <see cref="int.MaxValue"/> beyond.</summary>
    private static int LeadMilliseconds(long ticks) =>
        ticks <= 0 ? 0 : (int)Math.Min(int.MaxValue, (ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond);

    private int Allocate()
    {
        if (_free >= 0)
        {
            var index = _free;
            _free = _slots[index].Next - 1;
            return index;
        }

        if (_used == _slots.Length)
        {
            Grow();
        }

        return _used++;
    }

    // A twice bigger array with the same slots at the same indexes, chained anew; then readers are sent to it.
    private void Grow()
    {
        var grown = new L1Slot[_slots.Length * 2];
        Array.Copy(_slots, grown, _used);
        for (var i = 0; i < _used; i++)
        {
            grown[i].Head = 0;
        }

        for (var i = 0; i < _used; i++)
        {
            ref var slot = ref grown[i];
            if (slot.Key is null)
            {
                continue; // free: keeps its free-list link
            }

            ref var head = ref grown[BucketOf(L1Store.Hash(slot.Key), grown.Length)].Head;
            slot.Next = head;
            head = i + 1;
        }

        _slots = grown;
        Volatile.Write(ref _published[_index], grown);
    }
}
