namespace Cachee.Sessions.L1;

/// <summary>
/// Who leaves L1 when it is full, and who may come in.
/// <list type="bullet">
/// <item><b>Eviction</b> is CLOCK (second chance), a close approximation of LRU that needs no write on a hit beyond a bit
/// already set: the hand goes round the stripes one at a time, and the stripes together behave like one clock. It runs when
/// the byte or entry limit is passed.</item>
/// <item><b>Admission</b>: once L1 is full, a copy of a key it does not hold gets in only if its key was asked for more often
/// lately than the key CLOCK would evict for it, by a <see cref="FrequencySketch"/> of misses and writes (made when L1 first
/// fills up). Under skewed traffic this keeps the popular keys against a stream of one-off ones, and it costs hits nothing.</item>
/// </list>
/// </summary>
internal sealed class L1EvictionPolicy(L1Stripe[] stripes, L1Occupancy occupancy, Action onEvicted)
{
    private int _cursor;
    private FrequencySketch? _sketch;

    /// <summary>
    /// Counts an offered copy of <paramref name="size"/> bytes in the sketch and, when L1 has no room for it and does not
    /// hold its key already, admits it only if its key was asked for more often lately than the key CLOCK would evict for it.
    /// Called without the stripe lock.
    /// </summary>
    public bool Admit(L1Stripe stripe, in L1Ticket ticket, long size)
    {
        var full = occupancy.IsFullFor(size);
        var sketch = Volatile.Read(ref _sketch);
        if (sketch is null)
        {
            if (!full)
            {
                return true;
            }

            _ = Interlocked.CompareExchange(ref _sketch, new FrequencySketch(Math.Min(occupancy.MaxEntries, Math.Max(occupancy.Count, 1))), null);
            sketch = _sketch!;
        }

        sketch.Increment(ticket.Hash);
        if (!full || Holds(stripe, ticket))
        {
            return true;
        }

        var victim = NextVictimHash();
        return victim is not { } victimHash || sketch.Estimate(ticket.Hash) > sketch.Estimate(victimHash);
    }

    /// <summary>Evicts CLOCK's victims until L1 is within its limits again. Called without any stripe lock.</summary>
    public void EvictWhileOverLimits()
    {
        // Two turns over all stripes at most without a victim: the first clears every bit, the second then finds one.
        var idleStripes = 0;
        while (occupancy.IsOverLimits && idleStripes <= 2 * stripes.Length)
        {
            var stripe = stripes[Interlocked.Increment(ref _cursor) & (stripes.Length - 1)];
            lock (stripe.Gate)
            {
                var victim = stripe.NextVictim();
                if (victim >= 0)
                {
                    occupancy.Removed(stripe.Evict(victim, KeyHash.Of(stripe.At(victim).Key!)));
                    onEvicted();
                    idleStripes = 0;
                }
                else
                {
                    idleStripes++;
                }
            }
        }
    }

    private static bool Holds(L1Stripe stripe, in L1Ticket ticket)
    {
        lock (stripe.Gate)
        {
            return stripe.Find(ticket.Key, ticket.Hash) >= 0;
        }
    }

    /// <summary>The hash of the key CLOCK would evict next (the hand stays on it); null if there is none.</summary>
    private ulong? NextVictimHash()
    {
        var cursor = Volatile.Read(ref _cursor);
        for (var turn = 0; turn <= 2 * stripes.Length; turn++)
        {
            var stripe = stripes[(cursor + 1 + turn) & (stripes.Length - 1)];
            lock (stripe.Gate)
            {
                var victim = stripe.NextVictim();
                if (victim >= 0)
                {
                    // The eviction that follows starts at this stripe, so it takes this victim.
                    Volatile.Write(ref _cursor, cursor + turn);
                    return KeyHash.Of(stripe.At(victim).Key!);
                }
            }
        }

        return null;
    }
}
