namespace Cachee.Sessions.Diagnostics;

/// <summary>
/// A counter that threads increment on cache lines of their own, so that counting L1 hits on every core
/// does not turn one shared memory location into the bottleneck of the read path.
/// </summary>
internal sealed class StripedCounter
{
    private const int LongsPerCacheLine = 8;
    private readonly long[] _cells;
    private readonly int _mask;

    public StripedCounter()
    {
        var stripes = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(4, Environment.ProcessorCount * 2));
        _mask = stripes - 1;
        _cells = new long[stripes * LongsPerCacheLine];
    }

    public void Increment() =>
        Interlocked.Increment(ref _cells[(Environment.CurrentManagedThreadId & _mask) * LongsPerCacheLine]);

    public void Add(long value) =>
        Interlocked.Add(ref _cells[(Environment.CurrentManagedThreadId & _mask) * LongsPerCacheLine], value);

    public long Value
    {
        get
        {
            long sum = 0;
            for (var i = 0; i < _cells.Length; i += LongsPerCacheLine)
            {
                sum += Volatile.Read(ref _cells[i]);
            }

            return sum;
        }
    }
}
