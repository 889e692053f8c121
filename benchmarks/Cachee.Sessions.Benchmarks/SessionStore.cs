namespace Cachee.Sessions.Benchmarks;

/// <summary>The session stores the session benchmark compares.</summary>
public enum SessionStore
{
    /// <summary>Microsoft's RedisCache: every request goes to Redis.</summary>
    RedisCache,

    /// <summary>Cachee: L1 in every instance over Redis.</summary>
    Cachee,

    /// <summary>The ceiling no real fleet can have: all instances share one in-process MemoryDistributedCache.</summary>
    SharedMemory,
}
