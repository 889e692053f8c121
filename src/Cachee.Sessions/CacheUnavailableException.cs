namespace Cachee.Sessions;

/// <summary>
/// Thrown when Redis could not be asked: it did not answer within <see cref="CacheeOptions.L2OperationTimeout"/>, the
/// connection is down, or the circuit breaker is open after repeated failures. It is the only exception a
/// <see cref="TieredDistributedCache"/> throws for an unavailable Redis.
/// </summary>
/// <remarks>
/// <para>A read throws it only when L1 holds no copy to serve: a read never answers "no such entry" (null) unless Redis
/// said so, because the session middleware would take null for a new, empty session and later overwrite the real one.</para>
/// <para>A write or remove that throws it changed nothing: a write that reaches Redis after its deadline is rejected there
/// (see <see cref="CacheeOptions.L2OperationTimeout"/>). With <see cref="WriteFailureMode.Replay"/> a write is queued
/// instead, and this is thrown only when the replay queue is full.</para>
/// </remarks>
public sealed class CacheUnavailableException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public CacheUnavailableException()
        : base("Redis is unavailable.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public CacheUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the failure that caused it.</summary>
    public CacheUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
