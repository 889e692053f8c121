using System.Numerics;

namespace Cachee.Sessions.L1;

/// <summary>
/// Whether this instance's copies of a key pay for themselves, that is, get hit before the key changes. A copy costs Redis
/// its holder registration, its tracking, the invalidation each change sends here and the acknowledgement sent back; a hit
/// saves one read. So a key is held only while most of its copies were hit. Learned per key, in a fixed table indexed by the
/// key's hash (entries of colliding keys replace each other: a wrong guess costs Redis work, never a stale read):
/// <list type="bullet">
/// <item>a held copy ended by a change: hit since its load counts once for holding, not hit three times against;</item>
/// <item>while not held, reads show what a copy would have done: a read that finds the version the previous read found
/// would have been a hit (counts once for holding), one that finds another version ends a copy, which counts three times
/// against if no read would have hit it.</item>
/// </list>
/// A key never seen is held, and stays held through one unused copy. Reasoning and figures: docs/design.md, "Holding copies only where they pay".
/// </summary>
internal sealed class HoldingPolicy
{
    /// <summary>The score range: a key is held while its score is at least 0.</summary>
    internal const int MaxScore = 4;

    // A key first seen starts held, and stays held through one unused copy (a key read once before a change is common).
    private const int InitialScore = 3;
    private const int Wasted = -3;
    private const int Paid = 1;
    private readonly Slot[] _slots;
    private readonly Lock[] _gates;
    private readonly int _mask;

    /// <param name="entries">About how many keys to learn of (the table has at least this many slots, up to 2^17).</param>
    /// <param name="enabled">False: every key is held (the policy learns nothing).</param>
    public HoldingPolicy(long entries, bool enabled = true)
    {
        Enabled = enabled;
        var size = enabled ? (int)BitOperations.RoundUpToPowerOf2((ulong)Math.Clamp(entries, 1024, 1 << 17)) : 1;
        _slots = new Slot[size];
        _mask = size - 1;
        _gates = new Lock[Math.Min(size, 64)];
        for (var i = 0; i < _gates.Length; i++)
        {
            _gates[i] = new Lock();
        }
    }

    /// <summary>False when every key is held.</summary>
    public bool Enabled { get; }

    /// <summary>Whether a read or write of the key should keep a copy (register as a holder, be tracked).</summary>
    public bool ShouldHold(ulong hash)
    {
        if (!Enabled)
        {
            return true;
        }

        lock (Gate(hash))
        {
            ref var slot = ref _slots[Index(hash)];
            return slot.Tag != hash || slot.Score >= 0; // a key the table does not hold starts held
        }
    }

    /// <summary>A copy of the key was made (a read or write that holds): what reads without a copy saw before no longer counts.</summary>
    public void Held(ulong hash)
    {
        if (Enabled)
        {
            lock (Gate(hash))
            {
                ref var slot = ref Claim(hash);
                slot.Version = 0;
                slot.RenewalCoveredUntil = 0;
            }
        }
    }

    /// <summary>A change of the key ended this instance's copy; <paramref name="wasHit"/>: it had been hit since its load.</summary>
    public void CopyEnded(ulong hash, bool wasHit)
    {
        if (Enabled)
        {
            lock (Gate(hash))
            {
                ref var slot = ref Claim(hash);
                slot.Score = Scored(slot.Score, wasHit);
                slot.Version = 0;
            }
        }
    }

    /// <summary>A read that kept no copy found the key at <paramref name="version"/>.</summary>
    public void ReadWithoutCopy(ulong hash, long version)
    {
        if (!Enabled)
        {
            return;
        }

        lock (Gate(hash))
        {
            ref var slot = ref Claim(hash);
            if (slot.Version == version)
            {
                // A read a copy would have saved: counts at once, so that a key that stopped changing is held again.
                slot.Score = Scored(slot.Score, hit: true);
                slot.VirtualHit = true;
                return;
            }

            if (slot.Version != 0 && !slot.VirtualHit)
            {
                // The copy this instance would have kept at the earlier version ended unused.
                slot.Score = Scored(slot.Score, hit: false);
            }

            slot.Version = version;
            slot.VirtualHit = false;
        }
    }

    /// <summary>
    /// A read that kept no copy found a sliding entry whose expiry in Redis needs no renewal before <paramref name="until"/>
    /// (L1 clock): a <c>Refresh</c> of the key until then has nothing to do (see <see cref="RenewalCovered"/>).
    /// </summary>
    public void NoteRenewalCovered(ulong hash, long until)
    {
        if (Enabled)
        {
            lock (Gate(hash))
            {
                Claim(hash).RenewalCoveredUntil = until;
            }
        }
    }

    /// <summary>Whether a renewal of the key is covered by a read at <paramref name="now"/> (L1 clock; see <see cref="NoteRenewalCovered"/>).</summary>
    public bool RenewalCovered(ulong hash, long now)
    {
        if (!Enabled)
        {
            return false;
        }

        lock (Gate(hash))
        {
            ref var slot = ref _slots[Index(hash)];
            return slot.Tag == hash && now < slot.RenewalCoveredUntil;
        }
    }

    /// <summary>The key's score (for tests): held while at least 0; null for a key the table does not hold.</summary>
    internal int? ScoreOf(ulong hash)
    {
        lock (Gate(hash))
        {
            ref var slot = ref _slots[Index(hash)];
            return slot.Tag == hash ? slot.Score : null;
        }
    }

    private static int Scored(int score, bool hit) => Math.Clamp(score + (hit ? Paid : Wasted), -MaxScore, MaxScore);

    // The key's slot, taken over from whatever key held it before (under the key's gate).
    private ref Slot Claim(ulong hash)
    {
        ref var slot = ref _slots[Index(hash)];
        if (slot.Tag != hash)
        {
            slot = new Slot { Tag = hash, Score = InitialScore };
        }

        return ref slot;
    }

    private int Index(ulong hash) => (int)(hash >> 40) & _mask;

    private Lock Gate(ulong hash) => _gates[(int)(hash >> 40) & (_gates.Length - 1)];

    private struct Slot
    {
        public ulong Tag;
        public long Version; // of the copy a read without one would have kept; 0: none
        public int Score;
        public bool VirtualHit;
        public long RenewalCoveredUntil; // L1 clock
    }
}
