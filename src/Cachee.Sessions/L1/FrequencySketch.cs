using System.Numerics;

namespace Cachee.Sessions.L1;

/// <summary>
/// How often keys were asked for lately, approximately, in little memory: a count-min sketch of byte counters up to 15
/// (four per key in one array of 16 per entry, at most 4 MiB; the estimate is the least of them), halved every ten entries' worth of additions so that
/// old popularity fades. L1 adds to it on what costs a trip to Redis (a miss, a write), never on a hit, so hits stay free of
/// shared writes; see <see cref="L1Store"/> for how it decides admission. Concurrent additions may lose a count; an estimate
/// does not need them.
/// </summary>
internal sealed class FrequencySketch
{
    private const byte MaxCount = 15;
    private readonly byte[] _counters;
    private readonly int _mask;
    private readonly int _sampleSize;
    private readonly Lock _agingGate = new();
    private int _additions;

    public FrequencySketch(long entries)
    {
        var width = BitOperations.RoundUpToPowerOf2((ulong)Math.Clamp(entries * 16, 4096, 1 << 22));
        _counters = new byte[width];
        _mask = (int)width - 1;
        _sampleSize = (int)Math.Min(int.MaxValue / 2, Math.Max(entries, 1024) * 10);
    }

    /// <summary>How often the key of this hash was counted lately (0 to 15).</summary>
    public int Estimate(ulong hash)
    {
        var least = int.MaxValue;
        for (var probe = 0; probe < 4; probe++)
        {
            least = Math.Min(least, Volatile.Read(ref _counters[Index(hash, probe)]));
        }

        return least;
    }

    /// <summary>Counts the key of this hash once more (raising only its least counters, which keeps estimates tighter).</summary>
    public void Increment(ulong hash)
    {
        var least = Estimate(hash);
        if (least < MaxCount)
        {
            for (var probe = 0; probe < 4; probe++)
            {
                ref var counter = ref _counters[Index(hash, probe)];
                if (counter == least)
                {
                    counter = (byte)(least + 1);
                }
            }
        }

        if (Interlocked.Increment(ref _additions) >= _sampleSize)
        {
            Age();
        }
    }

    private void Age()
    {
        lock (_agingGate)
        {
            if (Volatile.Read(ref _additions) < _sampleSize)
            {
                return; // another thread just did it
            }

            for (var i = 0; i < _counters.Length; i++)
            {
                _counters[i] >>= 1;
            }

            Volatile.Write(ref _additions, 0);
        }
    }

    private int Index(ulong hash, int probe) =>
        (int)((BitOperations.RotateLeft(hash, probe * 16) * 0x9E3779B97F4A7C15UL) >> 40) & _mask;
}
