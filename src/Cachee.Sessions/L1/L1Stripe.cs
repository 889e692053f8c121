namespace Cachee.Sessions.L1;

/// <summary>
/// The write side of a slice of L1: its lock and its CLOCK ring of entries. Readers never come here.
/// Removal swaps the last entry into the hole, so every operation is O(1) and the ring stays dense.
/// </summary>
internal sealed class L1Stripe
{
    private L1Entry[] _ring = new L1Entry[8];

    public Lock Gate { get; } = new();

    public int Count { get; private set; }

    private int _hand;

    public void Add(L1Entry entry)
    {
        if (Count == _ring.Length)
        {
            Array.Resize(ref _ring, _ring.Length * 2);
        }

        entry.Slot = Count;
        _ring[Count++] = entry;
    }

    public void Unlink(L1Entry entry)
    {
        var slot = entry.Slot;
        if (slot < 0)
        {
            return;
        }

        var last = _ring[--Count];
        _ring[slot] = last;
        last.Slot = slot;
        _ring[Count] = null!;
        entry.Slot = -1;
        entry.Removed = true;
        if (Count > 16 && Count < _ring.Length / 4)
        {
            Array.Resize(ref _ring, _ring.Length / 2);
        }
    }

    /// <summary>
    /// Advances this stripe's CLOCK hand, clearing the bits it passes, to an entry not accessed since the hand last passed it.
    /// Returns null after one full turn without a victim: every bit is clear then, and the evictor moves to the next stripe,
    /// so that the stripes together behave like one clock.
    /// </summary>
    public L1Entry? NextVictim()
    {
        for (var step = 0; step < Count; step++)
        {
            if (_hand >= Count)
            {
                _hand = 0;
            }

            var candidate = _ring[_hand];
            if (candidate.Accessed == 0)
            {
                return candidate;
            }

            candidate.Accessed = 0;
            _hand++;
        }

        return null;
    }

    /// <summary>Collects the entries for which <paramref name="predicate"/> holds (the caller unlinks them).</summary>
    public void Collect(Func<L1Entry, bool> predicate, List<L1Entry> into)
    {
        for (var i = 0; i < Count; i++)
        {
            if (predicate(_ring[i]))
            {
                into.Add(_ring[i]);
            }
        }
    }
}
