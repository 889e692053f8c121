namespace Cachee.Sessions.L2;

/// <summary>
/// Stops sending calls to a Redis that keeps failing. Closed: every call goes through, and <c>threshold</c> failures in a row
/// open it. Open: calls fail at once for the break duration. Then half-open: the next call goes through as the probe while
/// the others still fail at once; the probe's success closes the breaker, its failure opens it for another break.
/// A closed breaker costs one volatile read per call.
/// </summary>
internal sealed class CircuitBreaker(int threshold, TimeSpan breakDuration, TimeProvider time)
{
    private const int Closed = 0;
    private const int Open = 1;
    private readonly Lock _gate = new();
    private int _state;
    private int _failures;
    private long _openedAt;
    private bool _probing;

    /// <summary>The state now: closed, open (failing calls at once), or half-open (its break is over: a probe may go).</summary>
    public BreakerState State
    {
        get
        {
            if (Volatile.Read(ref _state) == Closed)
            {
                return BreakerState.Closed;
            }

            lock (_gate)
            {
                return _state == Closed ? BreakerState.Closed
                    : _probing || time.GetElapsedTime(_openedAt) >= breakDuration ? BreakerState.HalfOpen
                    : BreakerState.Open;
            }
        }
    }

    /// <summary>Returns when a call may go to Redis (closed, or this call is the half-open probe); throws otherwise.</summary>
    /// <exception cref="CacheUnavailableException">The breaker is open.</exception>
    public void Enter()
    {
        if (Volatile.Read(ref _state) == Closed)
        {
            return;
        }

        lock (_gate)
        {
            if (_state == Closed)
            {
                return;
            }

            if (!_probing && time.GetElapsedTime(_openedAt) >= breakDuration)
            {
                _probing = true;
                return;
            }
        }

        throw new CacheUnavailableException(
            $"Redis is unavailable: the circuit breaker opened after {threshold} failures in a row and fails calls at once; it lets a probe through every {breakDuration}.");
    }

    /// <summary>Records an answer from Redis; returns true when this closed an open breaker.</summary>
    public bool Succeeded()
    {
        if (Volatile.Read(ref _state) == Closed && Volatile.Read(ref _failures) == 0)
        {
            return false;
        }

        lock (_gate)
        {
            var wasOpen = _state == Open;
            _failures = 0;
            _probing = false;
            Volatile.Write(ref _state, Closed);
            return wasOpen;
        }
    }

    /// <summary>A call ended with no outcome (its caller cancelled it): if it was the probe, the next call may probe.</summary>
    public void Abandoned()
    {
        lock (_gate)
        {
            _probing = false;
        }
    }

    /// <summary>Records a failure to reach Redis; returns true when this opened the breaker.</summary>
    public bool Failed()
    {
        lock (_gate)
        {
            _failures++;
            if (_state == Open)
            {
                // The probe (or a call begun before the breaker opened) failed: another full break.
                _probing = false;
                _openedAt = time.GetTimestamp();
                return false;
            }

            if (_failures < threshold)
            {
                return false;
            }

            _openedAt = time.GetTimestamp();
            _probing = false;
            Volatile.Write(ref _state, Open);
            return true;
        }
    }
}
