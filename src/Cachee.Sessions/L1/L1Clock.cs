namespace Cachee.Sessions.L1;

/// <summary>
/// The clock L1 measures validity with, in 100 ns ticks.
/// <para>On the system clock it is monotonic (<see cref="Environment.TickCount64"/>, the kernel's coarse
/// clock) and a warm hit does not read it at all: it compares with <see cref="Coarse"/>, a value a background thread
/// refreshes every <see cref="CoarseTicker.Period"/> ms, and reads the kernel clock only for copies within
/// <see cref="Horizon"/> of the end of their validity. So a copy far from its end is served on a time that may lag (if that
/// thread were not scheduled for a whole second, which no other thread of a running process suffers either), and a copy near
/// its end is judged on the kernel clock. Every validity is shortened by <see cref="Margin"/>, twice the kernel clock's
/// granularity and more, so that an L1 copy never outlives the Redis entry.</para>
/// <para>On any other <see cref="TimeProvider"/> (tests' fake clocks) it is that provider's UTC time, read exactly (no coarse
/// time, no horizon). The margin is the same on every clock, so that tests on a fake clock run the arithmetic production runs.</para>
/// </summary>
internal sealed class L1Clock : IDisposable
{
    private int _released;
    private readonly TimeProvider _time;
    private readonly bool _system;
    private readonly CoarseTicker _ticker;

    public L1Clock(TimeProvider time, CoarseTicker? ticker = null)
    {
        _time = time;
        _ticker = ticker ?? CoarseTicker.Shared;
        _system = ReferenceEquals(time, TimeProvider.System);
        Margin = 50 * TimeSpan.TicksPerMillisecond;
        if (_system)
        {
            _ticker.Acquire();
            Horizon = TimeSpan.TicksPerSecond;
        }
    }

    /// <summary>How much earlier than Redis' expiry a copy stops being served.</summary>
    public long Margin { get; }

    /// <summary>How close to the end of its validity a copy must be for a hit to read the exact clock (0 on an exact clock).</summary>
    public long Horizon { get; }

    /// <summary>Now, exactly.</summary>
    public long Now() => _system ? Environment.TickCount64 * TimeSpan.TicksPerMillisecond : _time.GetUtcNow().UtcTicks;

    /// <summary>Now, or a little earlier (see the class summary): what a hit compares a validity far from its end with.</summary>
    public long Coarse => _system ? CoarseTicker.Current : _time.GetUtcNow().UtcTicks;

    /// <summary>
    /// Converts a UTC expiry, known at <paramref name="utcNow"/> (read together with <paramref name="now"/>), to a validity on
    /// this clock, shortened by the margin. <see cref="long.MaxValue"/> stays unbounded.
    /// </summary>
    public long ValidUntil(long utcExpiry, long utcNow, long now) =>
        utcExpiry == long.MaxValue ? long.MaxValue : now + (utcExpiry - utcNow) - Margin;

    /// <summary>Stops using the coarse time: its thread ends when no cache of the process uses it.</summary>
    public void Dispose()
    {
        if (_system && Interlocked.Exchange(ref _released, 1) == 0)
        {
            _ticker.Release();
        }
    }
}
