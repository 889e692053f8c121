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

    /// <summary>The ceiling plus one Redis round trip per write: the floor for any store that makes writes durable in Redis.</summary>
    SharedMemoryDurableWrites,
}
