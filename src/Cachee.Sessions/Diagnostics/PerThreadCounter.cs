namespace Cachee.Sessions.Diagnostics;

/// <summary>
/// A counter that a thread increments in a cell only that thread writes (a plain add: no interlocked instruction, no cache
/// line shared with another thread), so that counting does not stop reads from scaling with cores. Reaching the thread's
/// cells is a thread-static access (on Linux a call into the runtime), about 2.5 ns: that is why L1 hits, the one hot
/// counter, are counted only on request (<see cref="CacheeOptions.CountL1Hits"/>). <see cref="Value"/> adds the cells of every thread that ever counted (a thread's cells, a few hundred bytes,
/// are kept after it ends: its counts are part of the total).
/// <para>Each counter has a number: its cell's index in every thread's array of cells. Numbers of disposed counters are
/// reused; a new counter starts from what its cells already held, so it reads 0.</para>
/// </summary>
internal sealed class PerThreadCounter : IDisposable
{
    // Keeps a thread's cells away from the cache lines of any other object.
    private const int Padding = 8;
    private static readonly Lock Gate = new();
    private static readonly List<long[]> AllCells = [];
    private static readonly Stack<int> FreeNumbers = new();
    private static int s_nextNumber;

    [ThreadStatic]
    private static long[]? t_cells;

    private readonly int _cell;
    private readonly long _start;
    private int _disposed;

    public PerThreadCounter()
    {
        lock (Gate)
        {
            _cell = Padding + (FreeNumbers.Count > 0 ? FreeNumbers.Pop() : s_nextNumber++);
            _start = SumLocked(_cell);
        }
    }

    public void Increment()
    {
        var cells = t_cells;
        if (cells is not null && (uint)_cell < (uint)(cells.Length - Padding))
        {
            cells[_cell]++;
            return;
        }

        Add(1);
    }

    public void Add(long value)
    {
        var cells = t_cells;
        if (cells is null || _cell >= cells.Length - Padding)
        {
            cells = Enlarge();
        }

        cells[_cell] += value;
    }

    public long Value
    {
        get
        {
            lock (Gate)
            {
                return SumLocked(_cell) - _start;
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            lock (Gate)
            {
                FreeNumbers.Push(_cell - Padding);
            }
        }
    }

    private static long SumLocked(int cell)
    {
        long sum = 0;
        foreach (var cells in AllCells)
        {
            if (cell < cells.Length - Padding)
            {
                sum += Volatile.Read(ref cells[cell]);
            }
        }

        return sum;
    }

    // This thread's cells, made or grown to hold every counter numbered so far.
    private static long[] Enlarge()
    {
        lock (Gate)
        {
            var old = t_cells;
            var cells = new long[s_nextNumber + (2 * Padding)];
            if (old is null)
            {
                AllCells.Add(cells);
            }
            else
            {
                Array.Copy(old, cells, old.Length - Padding);
                AllCells[AllCells.IndexOf(old)] = cells;
            }

            t_cells = cells;
            return cells;
        }
    }
}
