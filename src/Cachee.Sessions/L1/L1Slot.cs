using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Cachee.Sessions.L1;

/// <summary>
/// One place in a stripe's table: 56 bytes, no object of its own. Writers change a slot only under the stripe lock and
/// bracket every change with <see cref="Seq"/> (odd while they write); readers take no lock and keep what they read only if
/// <see cref="Seq"/> was even and unchanged around it. The protocol is the four methods at the end: nothing else reads or
/// writes <see cref="Seq"/>.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct L1Slot
{
    /// <summary>The key; null while the slot is free.</summary>
    public string? Key;

    /// <summary>The stored bytes: a <c>byte[]</c>, or after the first asynchronous hit a completed <c>Task&lt;byte[]?&gt;</c> holding them.</summary>
    public object? Value;

    /// <summary>When this copy stops being served, on the <see cref="L1Clock"/>.</summary>
    public long ValidUntil;

    /// <summary>The version Redis gave this value.</summary>
    public long Version;

    /// <summary>The index + 1 of the next slot of the same bucket (or of the free list); 0 at the end.</summary>
    public int Next;

    /// <summary>
    /// The index + 1 of the first slot of bucket number <em>this slot's index</em> (0: empty bucket). Buckets live in the
    /// slot array itself, so a lookup reads one array: the bucket's head, then the slots of its chain.
    /// </summary>
    public int Head;

    /// <summary>Odd while a writer changes the slot; moves on every change.</summary>
    public int Seq;

    /// <summary>
    /// For a sliding entry whose renewal can still extend it: how long (ms) before <see cref="ValidUntil"/> a hit asks for a
    /// background renewal; <see cref="int.MaxValue"/> means at every hit; 0 means never.
    /// </summary>
    public int RefreshLeadMs;

    /// <summary>The low 16 bits of the subscription epoch the copy belongs to (never 0 for a live epoch).</summary>
    public ushort Epoch;

    /// <summary>The CLOCK bit: set by hits that read the value (only when clear; a touch by <c>Refresh</c> does not), cleared by the eviction hand; also tells whether the copy is in use here.</summary>
    public byte Accessed;

    /// <summary>1 while a background renewal of this copy is queued.</summary>
    public byte RefreshQueued;

    /// <summary>Starts a lock-free read of <paramref name="slot"/>: the sequence number to hand to <see cref="ReadEnd"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ReadBegin(ref L1Slot slot) => Volatile.Read(ref slot.Seq);

    /// <summary>True when what was read since <see cref="ReadBegin"/> returned <paramref name="seq"/> is consistent: no writer was in the slot, and none changed it since.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool ReadEnd(ref L1Slot slot, int seq) => Volatile.Read(ref slot.Seq) == seq && (seq & 1) == 0;

    /// <summary>Under the stripe lock: starts a change of <paramref name="slot"/> (lock-free readers of it will retry); returns what <see cref="WriteEnd"/> needs.</summary>
    public static int WriteBegin(ref L1Slot slot)
    {
        var seq = slot.Seq;
        Volatile.Write(ref slot.Seq, seq + 1);
        return seq;
    }

    /// <summary>Ends the change begun by <see cref="WriteBegin"/>.</summary>
    public static void WriteEnd(ref L1Slot slot, int seq) => Volatile.Write(ref slot.Seq, seq + 2);
}
