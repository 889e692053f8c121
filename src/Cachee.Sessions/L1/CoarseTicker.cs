namespace Cachee.Sessions.L1;

/// <summary>
/// A coarse time in 100 ns ticks: one background thread writes it while at least one clock uses it, hits only read it. The
/// caches of a process share <see cref="Shared"/> (one thread, not one per cache), and its thread stops with the last of them.
/// </summary>
internal sealed class CoarseTicker
{
    /// <summary>How often the coarse time is renewed, in milliseconds.</summary>
    public const int Period = 4;

    // One coarse time for the process, whichever ticker writes it: a hit reads a static field, not a ticker's.
    private static long s_now;
    private readonly Lock _gate = new();
    private int _users;
    private int _generation;

    /// <summary>The ticker of the caches of this process.</summary>
    public static CoarseTicker Shared { get; } = new();

    /// <summary>The coarse time, as the last running ticker wrote it.</summary>
    public static long Current => Volatile.Read(ref s_now);

    /// <summary>Whether the thread is meant to run (a clock uses it).</summary>
    public bool IsRunning => Volatile.Read(ref _users) > 0;

    /// <summary>A clock starts using the coarse time: the first starts the thread.</summary>
    public void Acquire()
    {
        lock (_gate)
        {
            if (_users++ > 0)
            {
                return;
            }

            // A new generation: a thread of an earlier one that has not noticed it should stop ends at its next tick.
            var generation = ++_generation;
            Volatile.Write(ref s_now, Environment.TickCount64 * TimeSpan.TicksPerMillisecond);
            new Thread(() => Run(generation)) { IsBackground = true, Name = "Cachee L1 clock" }.Start();
        }
    }

    /// <summary>A clock stops using the coarse time: the thread ends after the last.</summary>
    public void Release()
    {
        lock (_gate)
        {
            _users--;
        }
    }

    private void Run(int generation)
    {
        while (Volatile.Read(ref _generation) == generation && Volatile.Read(ref _users) > 0)
        {
            Volatile.Write(ref s_now, Environment.TickCount64 * TimeSpan.TicksPerMillisecond);
            Thread.Sleep(Period);
        }
    }
}
