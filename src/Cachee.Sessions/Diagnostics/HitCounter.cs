namespace Cachee.Sessions.Diagnostics;

/// <summary>
/// The L1 hit counter of one cache: exact, and cheap enough for the hit's path. Each thread that counts gets a cell of its
/// own for this counter, so counting is a plain add on memory no other thread writes.
/// </summary>
/// <remarks>
/// 1. A thread keeps, in one thread-static field, the cell it last counted in, which names the counter it belongs to.
/// 2. A hit whose thread's cell belongs to this counter adds one to it: one thread-static read, one compare, one add.
/// 3. Otherwise (the thread's first hit here, or it last counted for another cache) the thread's cell for this counter is
///    found or made (<see cref="ThreadLocal{T}"/>, which keeps every thread's cell for the sum), and remembered.
/// 4. <see cref="Value"/> sums the cells. The cells belong to this counter and are collected with it (a thread remembers
///    only its last cell, which does not reference the counter). The counter is never disposed: a hit racing with the
///    cache's disposal, or a metrics callback after it, still finds its cells.
/// </remarks>
internal sealed class HitCounter
{
    private static long s_nextId;

    [ThreadStatic]
    private static Cell? t_last;

    private readonly long _id = Interlocked.Increment(ref s_nextId);
    private readonly ThreadLocal<Cell> _cells;

    public HitCounter() => _cells = new ThreadLocal<Cell>(() => new Cell(_id), trackAllValues: true);

    public long Value
    {
        get
        {
            long sum = 0;
            foreach (var cell in _cells.Values)
            {
                sum += Volatile.Read(ref cell.Count);
            }

            return sum;
        }
    }

    public void Increment()
    {
        var cell = t_last;
        if (cell is not null && cell.Owner == _id)
        {
            cell.Count++;
            return;
        }

        CountInNewCell();
    }

    private void CountInNewCell()
    {
        var cell = _cells.Value!;
        t_last = cell;
        cell.Count++;
    }

    // A thread's count for one counter, padded so that two threads' cells never share a cache line.
    private sealed class Cell(long owner)
    {
#pragma warning disable CS0169, IDE0051 // padding, never read
        private readonly long _before1, _before2, _before3, _before4, _before5, _before6, _before7;
#pragma warning restore CS0169, IDE0051
        public long Count;
#pragma warning disable CS0169, IDE0051
        private readonly long _after1, _after2, _after3, _after4, _after5, _after6, _after7;
#pragma warning restore CS0169, IDE0051

        public long Owner { get; } = owner;
    }
}
