using System.Runtime.CompilerServices;

namespace Cachee.Sessions.L1;

/// <summary>
/// The in-process tier: striped hash tables of slots read without locks, written under a stripe's lock, served only in the
/// current coherence epoch. How it works, and why: docs/design.md, "The L1 store".
/// </summary>
internal sealed class L1Store
{
    private const int ConflictSlots = 4096;
    private const int MaxReadAttempts = 4;
    private readonly L1Stripe[] _stripes;
    private readonly L1Slot[][] _tables;
    private readonly int[] _conflicts = new int[ConflictSlots];
    private readonly L1Occupancy _occupancy;
    private readonly L1EvictionPolicy _policy;
    private readonly RenewalRequests? _renewals;
    private int _servingEpoch;
    private int _lastEpoch;
    private readonly Lock _epochGate = new();

    public L1Store(long maxBytes, int maxEntries, int maxEntryBytes, Action onEvicted, L1Clock? clock = null, RenewalRequests? renewals = null)
    {
        _renewals = renewals;
        MaxEntryBytes = maxEntryBytes;
        Clock = clock ?? new L1Clock(TimeProvider.System);
        var stripes = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, Environment.ProcessorCount * 8));
        _stripes = new L1Stripe[stripes];
        _tables = new L1Slot[stripes][];
        for (var i = 0; i < stripes; i++)
        {
            _stripes[i] = new L1Stripe(_tables, i);
        }

        _occupancy = new L1Occupancy(maxBytes, maxEntries);
        _policy = new L1EvictionPolicy(_stripes, _occupancy, onEvicted);
    }

    public L1Clock Clock { get; }

    public int MaxEntryBytes { get; }

    public long Bytes => _occupancy.Bytes;

    public long Count => _occupancy.Count;

    /// <summary>The epoch entries must carry to be served; 0 while the subscription is not live.</summary>
    public int ServingEpoch => Volatile.Read(ref _servingEpoch);

    /// <summary>A hit: the bytes, if this instance may serve the key from L1 now.</summary>
    public bool TryServe(string key, out byte[] value)
    {
        if (TryHit(key, KeyHash.OfInlined(key), asTask: false, markUsed: true, out var found))
        {
            value = L1Stripe.BytesOf(found);
            return true;
        }

        value = null!;
        return false;
    }

    /// <summary>A hit for an asynchronous caller: a completed task, made on the first such hit of the copy and reused after.</summary>
    public bool TryServeTask(string key, out Task<byte[]?> task)
    {
        if (TryHit(key, Hash(key), asTask: true, markUsed: true, out var found))
        {
            task = (Task<byte[]?>)found;
            return true;
        }

        task = null!;
        return false;
    }

    /// <summary>
    /// A touch of the key's copy without reading its value (<c>Refresh</c>): true if this instance may serve it now; asks for
    /// its sliding renewal when due, as a hit does, but does not count as a use of the value (neither for CLOCK eviction nor
    /// for the prefetch of its next version: the session middleware refreshes after every request, read or not).
    /// </summary>
    public bool TryTouch(string key) => TryHit(key, Hash(key), asTask: false, markUsed: false, out _);

    /// <summary>A look at the key's copy whatever its epoch or validity (under the stripe lock).</summary>
    public bool TryPeek(string key, out L1Entry entry)
    {
        var hash = Hash(key);
        var stripe = StripeOf(hash);
        lock (stripe.Gate)
        {
            var index = stripe.Find(key, hash);
            entry = index >= 0 ? stripe.Read(index) : default;
            return index >= 0;
        }
    }

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
    public bool TryInstallRead(in L1Ticket ticket, in L1Entry entry) => Install(ticket, entry, isWrite: false);

    /// <summary>
    /// Completes a local write: installs <paramref name="entry"/> when nothing else touched the key meanwhile, otherwise (or when
    /// <paramref name="entry"/> is null) makes sure no older copy survives.
    /// </summary>
    public bool CompleteWrite(in L1Ticket ticket, L1Entry? entry) => Install(ticket, entry, isWrite: true);

    /// <summary>
    /// Drops a key because it changed to <paramref name="version"/> (<see cref="long.MaxValue"/>: to an unknown version, so
    /// whatever copy is here). A copy already at that version or newer is kept: each holder hears a key's changes in change
    /// order, so such a copy was read after the change.
    /// </summary>
    /// <returns>True when the copy dropped had been hit since it was loaded (the key is in use here).</returns>
    public bool Invalidate(string key, long version)
    {
        var hash = Hash(key);
        _ = Interlocked.Increment(ref _conflicts[ConflictSlot(hash)]);
        var wasHot = false;
        _ = RemoveIf(key, hash, slot =>
        {
            wasHot = slot.Accessed != 0;
            return slot.Version < version;
        });
        return wasHot;
    }

    /// <summary>Drops the key's copy if it is still at <paramref name="version"/> (for example after its renewal found it gone).</summary>
    public void Remove(string key, long version) => _ = RemoveIf(key, Hash(key), slot => slot.Version == version);

    /// <summary>
    /// Ends a background renewal of the copy at (<paramref name="key"/>, <paramref name="version"/>): moves its validity to
    /// <paramref name="validUntil"/> when given, and lets hits ask for a renewal again, unless <paramref name="final"/> (Redis'
    /// expiry reached the absolute expiration, which no later renewal can move).
    /// </summary>
    public void CompleteRefresh(string key, long version, long? validUntil, bool final)
    {
        var hash = Hash(key);
        var stripe = StripeOf(hash);
        lock (stripe.Gate)
        {
            var index = stripe.Find(key, hash);
            if (index < 0)
            {
                return;
            }

            if (stripe.At(index).Version == version)
            {
                stripe.CompleteRefresh(index, validUntil, final);
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

            // Slots keep the low 16 bits of the epoch; those are never 0, which means "not serving".
            do
            {
                epoch = ++_lastEpoch;
            }
            while ((ushort)epoch == 0);

            Volatile.Write(ref _servingEpoch, epoch);
        }

        // Nothing older than this epoch can be installed any more (tickets carry their epoch), so one pass is enough.
        var current = (ushort)epoch;
        _ = RemoveWhere(slot => slot.Epoch != current);
        return epoch;
    }

    /// <summary>
    /// A copy to serve when Redis cannot be asked: the key's copy whatever its epoch, if its validity has not ended at
    /// <paramref name="now"/> (on the <see cref="L1Clock"/>). It may be stale (changes made during a subscription gap were not
    /// heard); callers count such hits.
    /// </summary>
    public byte[]? TryGetStale(string key, long now) =>
        TryPeek(key, out var entry) && entry.ValidUntil > now ? entry.Value : null;

    /// <summary>
    /// Drops every copy whose key matches (changes of them may go unheard from now on), and lets no read begun before install.
    /// </summary>
    public int Drop(Func<string, bool> keys)
    {
        RejectReadsInFlight();
        return RemoveWhere(slot => slot.Key is { } key && keys(key));
    }

    /// <summary>Lets no read or write begun before now install its copy (their tickets conflict).</summary>
    public void RejectReadsInFlight()
    {
        for (var i = 0; i < _conflicts.Length; i++)
        {
            _ = Interlocked.Increment(ref _conflicts[i]);
        }
    }

    /// <summary>Removes entries whose validity ended at or before <paramref name="now"/>; returns how many.</summary>
    public int RemoveExpired(long now) => RemoveWhere(slot => slot.ValidUntil <= now);

    /// <summary>The hash that picks a key's stripe, bucket and conflict counter (keyed per process, see <see cref="KeyHash"/>).</summary>
    public static ulong Hash(string key) => KeyHash.Of(key);

    // The lock-free read (see the class summary). Returns the stored object: a byte[], or a task holding it when asTask.
    // The common hit (the key first in its bucket, nothing changing it, far from its end, no renewal to ask for, already
    // marked as used) is settled here in a few loads; anything else goes the general way.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryHit(string key, ulong hash, bool asTask, bool markUsed, out object value)
    {
        ref var published = ref PublishedFor(hash);
        var slots = Volatile.Read(ref published);
        var index = Volatile.Read(ref slots[L1Stripe.BucketOf(hash, slots.Length)].Head) - 1;
        if ((uint)index < (uint)slots.Length)
        {
            ref var slot = ref slots[index];
            var seq = L1Slot.ReadBegin(ref slot);
            if (string.Equals(Volatile.Read(ref slot.Key), key, StringComparison.Ordinal))
            {
                var found = Volatile.Read(ref slot.Value);
                var validUntil = Volatile.Read(ref slot.ValidUntil);
                var slotEpoch = Volatile.Read(ref slot.Epoch);
                var lead = Volatile.Read(ref slot.RefreshLeadMs);
                if (L1Slot.ReadEnd(ref slot, seq) && ReferenceEquals(Volatile.Read(ref published), slots)
                    && slotEpoch == (ushort)ServingEpoch
                    && (!markUsed || slot.Accessed != 0) && (!asTask || found!.GetType() == typeof(Task<byte[]?>))
                    && IsFarFromItsEnd(validUntil, lead, slot.RefreshQueued))
                {
                    value = found!;
                    return true;
                }
            }
        }

        return TryHitSlow(key, hash, asTask, markUsed, out value);
    }

    // Valid for more than the clock's horizon, and no renewal to ask for (none wanted, one already queued, or not yet due).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsFarFromItsEnd(long validUntil, int lead, byte refreshQueued)
    {
        var coarse = Clock.Coarse;
        return validUntil - Clock.Horizon > coarse && !IsRenewalDue(lead, refreshQueued, validUntil, coarse);
    }

    // A sliding copy that can still be extended, with no renewal queued, whose renewal lead has begun (or that renews at every hit).
    private static bool IsRenewalDue(int lead, byte refreshQueued, long validUntil, long now) =>
        lead != 0 && refreshQueued == 0 && (lead == int.MaxValue || now >= validUntil - ((long)lead * TimeSpan.TicksPerMillisecond));

    // The published array of the stripe a hash picks.
    private ref L1Slot[] PublishedFor(ulong hash) => ref _tables[(int)(hash & (ulong)(_tables.Length - 1))];

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryHitSlow(string key, ulong hash, bool asTask, bool markUsed, out object value)
    {
        var epoch = (ushort)ServingEpoch;
        ref var published = ref PublishedFor(hash);
        for (var attempt = 0; epoch != 0 && attempt < MaxReadAttempts; attempt++)
        {
            var slots = Volatile.Read(ref published);
            var index = Volatile.Read(ref slots[L1Stripe.BucketOf(hash, slots.Length)].Head) - 1;
            var consistent = true;
            for (var steps = 0; (uint)index < (uint)slots.Length && steps < slots.Length; steps++)
            {
                ref var slot = ref slots[index];
                var seq = L1Slot.ReadBegin(ref slot);
                var slotKey = Volatile.Read(ref slot.Key);
                if (slotKey is null || (seq & 1) != 0)
                {
                    consistent = false; // a slot being changed, or freed under us: look again
                    break;
                }

                if (!string.Equals(slotKey, key, StringComparison.Ordinal))
                {
                    index = Volatile.Read(ref slot.Next) - 1;
                    if (!L1Slot.ReadEnd(ref slot, seq))
                    {
                        consistent = false;
                        break;
                    }

                    continue;
                }

                var found = Volatile.Read(ref slot.Value);
                var validUntil = Volatile.Read(ref slot.ValidUntil);
                var slotEpoch = Volatile.Read(ref slot.Epoch);
                var lead = Volatile.Read(ref slot.RefreshLeadMs);
                if (!L1Slot.ReadEnd(ref slot, seq) || !ReferenceEquals(Volatile.Read(ref published), slots))
                {
                    consistent = false;
                    break;
                }

                return Serve(ref slot, seq, key, found!, validUntil, slotEpoch == epoch, lead, asTask, markUsed, out value);
            }

            if (consistent && ReferenceEquals(Volatile.Read(ref published), slots))
            {
                // Not found without a lock. That is not proof of absence: a slot of the chain may have been freed and reused
                // in another bucket between two reads (each read consistent in itself), cutting the walk short. A miss costs
                // a Redis round trip anyway, so the stripe lock settles it.
                break;
            }
        }

        return epoch != 0 ? TryHitLocked(key, hash, epoch, asTask, markUsed, out value) : NoHit(out value);
    }

    // Writers kept changing what the lock-free read walked through: read under the stripe lock rather than miss.
    private bool TryHitLocked(string key, ulong hash, ushort epoch, bool asTask, bool markUsed, out object value)
    {
        var stripe = StripeOf(hash);
        lock (stripe.Gate)
        {
            var index = stripe.Find(key, hash);
            if (index < 0)
            {
                return NoHit(out value);
            }

            ref var slot = ref stripe.At(index);
            return Serve(ref slot, L1Slot.ReadBegin(ref slot), key, slot.Value!, slot.ValidUntil, slot.Epoch == epoch, slot.RefreshLeadMs, asTask, markUsed, out value);
        }
    }

    // The checks of a hit on a consistent read of a slot, and what a hit does: the CLOCK bit, a renewal if due.
    private bool Serve(
        ref L1Slot slot, int seq, string key, object found, long validUntil, bool sameEpoch, int lead, bool asTask, bool markUsed, out object value)
    {
        if (!sameEpoch || !IsValid(validUntil, out var now))
        {
            return NoHit(out value);
        }

        if (markUsed && slot.Accessed == 0)
        {
            slot.Accessed = 1;
        }

        if (IsRenewalDue(lead, slot.RefreshQueued, validUntil, now))
        {
            AskForRefresh(ref slot, seq, key);
        }

        value = asTask ? AsTask(ref slot, found) : found;
        return true;
    }

    private static bool NoHit(out object value)
    {
        value = null!;
        return false;
    }

    private bool IsValid(long validUntil, out long now)
    {
        now = Clock.Coarse;
        if (validUntil - Clock.Horizon > now)
        {
            return true;
        }

        now = Clock.Now();
        return validUntil > now;
    }

    private void AskForRefresh(ref L1Slot slot, int seq, string key)
    {
        if (Interlocked.CompareExchange(ref slot.RefreshQueued, (byte)1, (byte)0) != 0)
        {
            return;
        }

        var version = Volatile.Read(ref slot.Version);
        if (!L1Slot.ReadEnd(ref slot, seq))
        {
            // The slot changed meanwhile: the flag may now sit on another copy; clear it (at worst a renewal is asked twice).
            Volatile.Write(ref slot.RefreshQueued, (byte)0);
            return;
        }

        _renewals?.Ask(key, version);
    }

    private static Task<byte[]?> AsTask(ref L1Slot slot, object? found)
    {
        if (found is Task<byte[]?> task)
        {
            return task;
        }

        var made = Task.FromResult<byte[]?>((byte[])found!);

        // Kept for later hits unless a writer replaced the value meanwhile.
        _ = Interlocked.CompareExchange(ref slot.Value, made, found);
        return made;
    }

    private bool Install(in L1Ticket ticket, L1Entry? entry, bool isWrite)
    {
        var slot = ConflictSlot(ticket.Hash);
        var stripe = StripeOf(ticket.Hash);
        var admitted = entry is not { } offered || _policy.Admit(stripe, ticket, offered.Size);
        bool installed;
        lock (stripe.Gate)
        {
            var unchanged = Volatile.Read(ref _conflicts[slot]) == ticket.Stamp && ticket.Epoch == ServingEpoch && ticket.CanInstall;
            installed = unchanged && admitted && entry is { } candidate && candidate.Size <= MaxEntryBytes;
            if (isWrite)
            {
                // A completed write moves the stamp so that reads begun before it cannot install what they fetched.
                _ = Interlocked.Increment(ref _conflicts[slot]);
            }

            if (!installed)
            {
                var index = isWrite ? stripe.Find(ticket.Key, ticket.Hash) : -1;
                if (index >= 0)
                {
                    Removed(stripe.RemoveAt(index, ticket.Hash));
                }

                return false;
            }

            var replaced = stripe.Put(entry!.Value, ticket.Hash, out var added);
            _occupancy.Stored(entry.Value.Size, replaced, added);
        }

        _policy.EvictWhileOverLimits();
        return installed;
    }

    private bool RemoveIf(string key, ulong hash, Func<L1Slot, bool> predicate)
    {
        var stripe = StripeOf(hash);
        lock (stripe.Gate)
        {
            var index = stripe.Find(key, hash);
            if (index >= 0 && predicate(stripe.At(index)))
            {
                Removed(stripe.RemoveAt(index, hash));
                return true;
            }
        }

        return false;
    }

    private int RemoveWhere(Func<L1Slot, bool> predicate)
    {
        var removed = 0;
        var batch = new List<int>();
        foreach (var stripe in _stripes)
        {
            lock (stripe.Gate)
            {
                batch.Clear();
                stripe.Collect(predicate, batch);
                foreach (var index in batch)
                {
                    Removed(stripe.RemoveAt(index, Hash(stripe.At(index).Key!)));
                }

                removed += batch.Count;
            }
        }

        return removed;
    }

    private void Removed(long size) => _occupancy.Removed(size);

    private L1Stripe StripeOf(ulong hash) => _stripes[(int)(hash & (ulong)(_stripes.Length - 1))];

    private static int ConflictSlot(ulong hash) => (int)((hash >> 48) & (ConflictSlots - 1));
}
