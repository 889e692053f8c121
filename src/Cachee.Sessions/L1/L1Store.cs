using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Cachee.Sessions.L1;

/// <summary>
/// The in-process tier. How it works, and why:
/// <list type="bullet">
/// <item><b>Reads</b> are one lock-free <see cref="ConcurrentDictionary{TKey,TValue}"/> lookup plus field reads: no lock,
/// and no shared write on a warm hit (the CLOCK bit and refresh flag are written only when they change).</item>
/// <item><b>Writes</b> take the lock of one of many stripes (chosen by an XxHash3 of the key); the dictionary, the stripe's
/// CLOCK ring and the byte/entry totals change together under it.</item>
/// <item><b>Races with L2</b> are settled by conflict stamps: each key maps to a counter that every invalidation and every
/// local write bumps; a result fetched from L2 is installed only if its key's counter has not moved since the fetch began
/// (see <see cref="L1Ticket"/>). A false conflict (two keys sharing a counter) costs a miss, never a stale read.</item>
/// <item><b>Coherence epochs</b>: entries are served only while the subscription epoch they were loaded in is current;
/// <see cref="Suspend"/> (subscription lost) stops serving, <see cref="Resume"/> starts a new epoch and drops every entry of
/// the old ones (they may have missed invalidations during the gap). In between, copies are kept only to be served when Redis
/// cannot be asked (stale-on-error).</item>
/// <item><b>Eviction</b> is CLOCK (second chance), a close approximation of LRU that needs no write on a hit beyond a bit
/// already set; it runs when the byte or entry limit is passed, one stripe at a time, round robin.</item>
/// <item><b>Expiry</b> is checked on every read (an expired entry is a miss) and swept by the coordinator.</item>
/// </list>
/// </summary>
internal sealed class L1Store
{
    private const int ConflictSlots = 4096;
    private readonly ConcurrentDictionary<string, L1Entry> _map;
    private readonly L1Stripe[] _stripes;
    private readonly int[] _conflicts = new int[ConflictSlots];
    private readonly long _maxBytes;
    private readonly long _maxEntries;
    private readonly Action _onEvicted;
    private long _bytes;
    private long _count;
    private int _evictionCursor;
    private int _servingEpoch;
    private int _lastEpoch;
    private readonly Lock _epochGate = new();

    public L1Store(long maxBytes, int maxEntries, int maxEntryBytes, Action onEvicted)
    {
        _maxBytes = maxBytes;
        _maxEntries = maxEntries;
        MaxEntryBytes = maxEntryBytes;
        _onEvicted = onEvicted;
        var stripes = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, Environment.ProcessorCount * 8));
        _stripes = new L1Stripe[stripes];
        for (var i = 0; i < stripes; i++)
        {
            _stripes[i] = new L1Stripe();
        }

        _map = new ConcurrentDictionary<string, L1Entry>(Environment.ProcessorCount * 4, 1024, StringComparer.Ordinal);
    }

    public int MaxEntryBytes { get; }

    public long Bytes => Interlocked.Read(ref _bytes);

    public long Count => Interlocked.Read(ref _count);

    /// <summary>The epoch entries must carry to be served; 0 while the subscription is not live.</summary>
    public int ServingEpoch => Volatile.Read(ref _servingEpoch);

    /// <summary>Looks a key up without any check: the caller checks epoch and expiry.</summary>
    public bool TryGet(string key, [MaybeNullWhen(false)] out L1Entry entry) => _map.TryGetValue(key, out entry);

    /// <summary>Starts a read from L2 whose result may be installed.</summary>
    public L1Ticket BeginRead(string key)
    {
        var hash = Hash(key);
        return new L1Ticket(key, hash, Volatile.Read(ref _conflicts[ConflictSlot(hash)]), ServingEpoch);
    }

    /// <summary>Starts a local write or remove: from now on, reads of this key that started earlier will not install.</summary>
    public L1Ticket BeginWrite(string key)
    {
        var hash = Hash(key);
        return new L1Ticket(key, hash, Interlocked.Increment(ref _conflicts[ConflictSlot(hash)]), ServingEpoch);
    }

    /// <summary>Installs the result of a read, unless something changed the key or the epoch since <paramref name="ticket"/>.</summary>
    public bool TryInstallRead(in L1Ticket ticket, L1Entry entry) => Install(ticket, entry, isWrite: false);

    /// <summary>
    /// Completes a local write: installs <paramref name="entry"/> when nothing else touched the key meanwhile, otherwise (or when
    /// <paramref name="entry"/> is null) makes sure no older copy survives.
    /// </summary>
    public bool CompleteWrite(in L1Ticket ticket, L1Entry? entry) => Install(ticket, entry, isWrite: true);

    /// <summary>
    /// Drops a key because another instance changed it to <paramref name="version"/>. A copy already at that version or newer
    /// is kept: channel order is change order, so such a copy was read after the change.
    /// </summary>
    /// <returns>True when a copy was dropped (the key was in use here).</returns>
    public bool Invalidate(string key, long version)
    {
        var hash = Hash(key);
        _ = Interlocked.Increment(ref _conflicts[ConflictSlot(hash)]);
        var stripe = StripeOf(hash);
        lock (stripe.Gate)
        {
            if (_map.TryGetValue(key, out var existing) && existing.Version < version)
            {
                RemoveLocked(stripe, existing);
                return true;
            }
        }

        return false;
    }

    /// <summary>Drops one specific entry (for example after its refresh found it gone), if it is still the current one.</summary>
    public void Remove(L1Entry entry)
    {
        var stripe = StripeOf(Hash(entry.Key));
        lock (stripe.Gate)
        {
            if (!entry.Removed)
            {
                RemoveLocked(stripe, entry);
            }
        }
    }

    /// <summary>
    /// Stops serving L1 (the subscription was lost). The copies stay, unserved, for reads that cannot reach Redis
    /// (<see cref="TryGetStale"/>) until <see cref="Resume"/> drops them.
    /// </summary>
    public void Suspend()
    {
        lock (_epochGate)
        {
            Volatile.Write(ref _servingEpoch, 0);
        }
    }

    /// <summary>
    /// Serves L1 again in a new epoch (the subscription is live) and drops every copy made before it; returns the epoch.
    /// A confirmation that comes while L1 is being served already (a repeated probe, with no loss reported in between)
    /// keeps the current epoch.
    /// </summary>
    public int Resume()
    {
        int epoch;
        lock (_epochGate)
        {
            var serving = ServingEpoch;
            if (serving != 0)
            {
                return serving;
            }

            epoch = ++_lastEpoch;
            Volatile.Write(ref _servingEpoch, epoch);
        }

        // Nothing older than this epoch can be installed any more (tickets carry their epoch), so one pass is enough.
        _ = RemoveWhere(entry => entry.Epoch != epoch);
        return epoch;
    }

    /// <summary>
    /// A copy to serve when Redis cannot be asked: the key's entry whatever its epoch, if its validity has not ended.
    /// It may be stale (changes made during a subscription gap were not heard); callers count such hits.
    /// </summary>
    public L1Entry? TryGetStale(string key, long nowTicks) =>
        _map.TryGetValue(key, out var entry) && Volatile.Read(ref entry.ValidUntilTicks) > nowTicks ? entry : null;

    /// <summary>Removes entries whose validity ended at or before <paramref name="nowTicks"/>; returns how many.</summary>
    public int RemoveExpired(long nowTicks) => RemoveWhere(entry => Volatile.Read(ref entry.ValidUntilTicks) <= nowTicks);

    private bool Install(in L1Ticket ticket, L1Entry? entry, bool isWrite)
    {
        var slot = ConflictSlot(ticket.Hash);
        var stripe = StripeOf(ticket.Hash);
        bool installed;
        lock (stripe.Gate)
        {
            var unchanged = Volatile.Read(ref _conflicts[slot]) == ticket.Stamp && ticket.Epoch == ServingEpoch && ticket.CanInstall;
            installed = unchanged && entry is not null && entry.Size <= MaxEntryBytes;
            if (isWrite)
            {
                // A completed write moves the stamp so that reads begun before it cannot install what they fetched.
                _ = Interlocked.Increment(ref _conflicts[slot]);
            }

            if (!installed)
            {
                if (isWrite && _map.TryGetValue(ticket.Key, out var stale))
                {
                    RemoveLocked(stripe, stale);
                }

                return false;
            }

            if (_map.TryGetValue(ticket.Key, out var old))
            {
                RemoveLocked(stripe, old);
            }

            _map[ticket.Key] = entry!;
            stripe.Add(entry!);
            _ = Interlocked.Add(ref _bytes, entry!.Size);
            _ = Interlocked.Increment(ref _count);
        }

        EvictWhileOverLimits();
        return installed;
    }

    private void EvictWhileOverLimits()
    {
        // Two turns over all stripes at most without a victim: the first clears every bit, the second then finds one.
        var idleStripes = 0;
        while ((Interlocked.Read(ref _bytes) > _maxBytes || Interlocked.Read(ref _count) > _maxEntries) && idleStripes <= 2 * _stripes.Length)
        {
            var stripe = _stripes[Interlocked.Increment(ref _evictionCursor) & (_stripes.Length - 1)];
            lock (stripe.Gate)
            {
                if (stripe.NextVictim() is { } victim)
                {
                    RemoveLocked(stripe, victim);
                    _onEvicted();
                    idleStripes = 0;
                }
                else
                {
                    idleStripes++;
                }
            }
        }
    }

    private int RemoveWhere(Func<L1Entry, bool> predicate)
    {
        var removed = 0;
        var batch = new List<L1Entry>();
        foreach (var stripe in _stripes)
        {
            lock (stripe.Gate)
            {
                batch.Clear();
                stripe.Collect(predicate, batch);
                foreach (var entry in batch)
                {
                    RemoveLocked(stripe, entry);
                }

                removed += batch.Count;
            }
        }

        return removed;
    }

    private void RemoveLocked(L1Stripe stripe, L1Entry entry)
    {
        _ = _map.TryRemove(KeyValuePair.Create(entry.Key, entry));
        stripe.Unlink(entry);
        _ = Interlocked.Add(ref _bytes, -entry.Size);
        _ = Interlocked.Decrement(ref _count);
    }

    private L1Stripe StripeOf(ulong hash) => _stripes[(int)(hash & (ulong)(_stripes.Length - 1))];

    private static int ConflictSlot(ulong hash) => (int)((hash >> 32) & (ConflictSlots - 1));

    private static ulong Hash(string key) => XxHash3.HashToUInt64(MemoryMarshal.AsBytes(key.AsSpan()));
}
