using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cachee.Sessions.L1;

/// <summary>
/// The 64-bit hash L1 spreads keys with, keyed by secrets drawn at random once per process, so that which keys share a
/// bucket depends on values no outsider knows (and differs from one instance to the next). It is not a cryptographic MAC.
/// <para>Hashing the key is most of the cost of an L1 hit (a session key is 36 to 80 UTF-16 bytes), so on x86 CPUs with AES
/// instructions it is built from AES rounds, which mix 16 bytes at a time and of which a core starts two per cycle: every
/// 16-byte block of the key (the last one overlapping its predecessor when the length is not a multiple of 16) goes through
/// two rounds under keys of its own position, the blocks are combined by exclusive or, and two more rounds with the length
/// finish the hash: a fraction of the cost of a seeded XxHash3, which is what CPUs without AES instructions use.</para>
/// <para>Keys are read within their characters only (short keys by overlapping 2-, 4- or 8-byte reads), so the hash depends
/// on the key and the secrets, nothing else.</para>
/// </summary>
internal static class KeyHash
{
    private static readonly long Seed = Random.Shared.NextInt64();
    private static readonly Vector128<byte> K0 = Secret(), K1 = Secret(), K2 = Secret(), K3 = Secret(), K4 = Secret(),
        K5 = Secret(), K6 = Secret(), K7 = Secret(), K8 = Secret();

    /// <summary>Whether the AES construction is used (otherwise a seeded XxHash3).</summary>
    public static bool UsesAes => Aes.IsSupported;

    /// <summary>The hash of <paramref name="key"/>'s characters.</summary>
    public static ulong Of(string key) => Of(key.AsSpan());

    /// <summary>
    /// <see cref="Of(string)"/>, compiled into the caller: the synchronous L1 hit uses it, where inlining measured faster
    /// (L1HitBenchmark); the asynchronous hit measured slower with it, so it keeps the call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong OfInlined(string key) => Aes.IsSupported ? OfAes(key.AsSpan()) : Portable(key.AsSpan());

    /// <summary>The hash of <paramref name="key"/>: the same as that of a string of these characters.</summary>
    public static ulong Of(ReadOnlySpan<char> key) => Aes.IsSupported ? OfAes(key) : Portable(key);

    /// <summary>The hash used where there are no AES instructions.</summary>
    internal static ulong Portable(ReadOnlySpan<char> key) => XxHash3.HashToUInt64(MemoryMarshal.AsBytes(key), Seed);

    private static Vector128<byte> Secret() => Vector128.Create(Random.Shared.NextInt64(), Random.Shared.NextInt64()).AsByte();

    // Keys over 96 bytes call Long.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong OfAes(ReadOnlySpan<char> key)
    {
        ref var start = ref Unsafe.As<char, byte>(ref MemoryMarshal.GetReference(key));
        var length = (nuint)key.Length * sizeof(char);
        Vector128<byte> mixed;
        if (length <= 16)
        {
            mixed = Mix(Short(ref start, length), K0, K1);
        }
        else if (length <= 32)
        {
            mixed = Mix(Load(ref start, 0), K0, K1) ^ Mix(Load(ref start, length - 16), K2, K3);
        }
        else if (length <= 64)
        {
            mixed = (Mix(Load(ref start, 0), K0, K1) ^ Mix(Load(ref start, 16), K2, K3))
                ^ (Mix(Load(ref start, length - 32), K4, K5) ^ Mix(Load(ref start, length - 16), K6, K7));
        }
        else if (length <= 96)
        {
            mixed = (Mix(Load(ref start, 0), K0, K1) ^ Mix(Load(ref start, 16), K2, K3))
                ^ (Mix(Load(ref start, 32), K4, K5) ^ Mix(Load(ref start, 48), K6, K7))
                ^ (Mix(Load(ref start, length - 32), K1, K0) ^ Mix(Load(ref start, length - 16), K3, K2));
        }
        else
        {
            mixed = Long(ref start, length);
        }

        var final = Aes.Encrypt(Aes.Encrypt(mixed ^ Vector128.CreateScalar((ulong)length).AsByte(), K8), K0);
        return final.AsUInt64().ToScalar();
    }

    // Keys over 96 bytes: four lanes chain one round per 64-byte stretch, then the last 64 bytes are mixed into them.
    private static Vector128<byte> Long(ref byte start, nuint length)
    {
        Vector128<byte> a = K1, b = K3, c = K5, d = K7;
        for (nuint i = 0; i + 64 < length; i += 64)
        {
            a = Aes.Encrypt(a ^ Load(ref start, i), K0);
            b = Aes.Encrypt(b ^ Load(ref start, i + 16), K2);
            c = Aes.Encrypt(c ^ Load(ref start, i + 32), K4);
            d = Aes.Encrypt(d ^ Load(ref start, i + 48), K6);
        }

        var tail = length - 64;
        return (Mix(a ^ Load(ref start, tail), K0, K1) ^ Mix(b ^ Load(ref start, tail + 16), K2, K3))
            ^ (Mix(c ^ Load(ref start, tail + 32), K4, K5) ^ Mix(d ^ Load(ref start, tail + 48), K6, K7));
    }

    // Up to 16 bytes (an even count), read without touching anything past the key's last character.
    private static Vector128<byte> Short(ref byte start, nuint length)
    {
        if (length >= 8)
        {
            return Vector128.Create(Unsafe.ReadUnaligned<ulong>(ref start), Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, length - 8))).AsByte();
        }

        if (length >= 4)
        {
            return Vector128.Create(Unsafe.ReadUnaligned<uint>(ref start), (ulong)Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, length - 4))).AsByte();
        }

        return Vector128.CreateScalar(length == 0 ? 0UL : Unsafe.ReadUnaligned<ushort>(ref start)).AsByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Load(ref byte start, nuint offset) => Vector128.LoadUnsafe(ref start, offset);

    // Two AES rounds: every output byte depends on every input byte.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Mix(Vector128<byte> block, Vector128<byte> first, Vector128<byte> second) =>
        Aes.Encrypt(Aes.Encrypt(block ^ first, second), first);
}
