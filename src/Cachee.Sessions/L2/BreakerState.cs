namespace Cachee.Sessions.L2;

/// <summary>The state of a <see cref="CircuitBreaker"/>.</summary>
internal enum BreakerState
{
    /// <summary>Calls go to Redis.</summary>
    Closed,

    /// <summary>Calls fail at once for the break duration.</summary>
    Open,

    /// <summary>The break is over: the next call goes as a probe, and its outcome closes or reopens the breaker.</summary>
    HalfOpen,
}
