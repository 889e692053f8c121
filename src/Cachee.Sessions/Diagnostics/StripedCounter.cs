namespace Cachee.Sessions.Diagnostics;

/// <summary>
/// A counter of one cache instance for the L1 hit, the one event frequent enough that a single shared cell would stop reads
/// from scaling with cores: one cell per core, each on cache lines of its own, summed when read.
/// </summary>
/// <remarks>
/// 1. A thread adds to the cell of the core it runs on (<see cref="Thread.GetCurrentProcessorId"/>, cached by the runtime).
/// 2. The add is interlocked: a thread moved to another core between the two steps shares a cell with that core's threads.
/// 3. <see cref="Value"/> sums the cells; a count made while it sums may or may not be in the result.
/// </remarks>
internal sealed class StripedCounter
{
    // 16 longs: 128 bytes between cells, past the adjacent-line prefetcher that pairs 64-byte lines.
    private const int Stride = 16;
    private readonly long[] _cells;
    private readonly int _mask;

    public StripedCounter()
    {
        var cells = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Environment.ProcessorCount);
        _mask = cells - 1;
        _cells = new long[(cells + 1) * Stride]; // a padding stride before the first cell too
    }

    public long Value
    {
        get
        {
            long sum = 0;
            for (var i = 1; i <= _mask + 1; i++)
            {
                sum += Volatile.Read(ref _cells[i * Stride]);
            }

            return sum;
        }
    }

    public void Increment() => Interlocked.Increment(ref _cells[((Thread.GetCurrentProcessorId() & _mask) + 1) * Stride]);
}
