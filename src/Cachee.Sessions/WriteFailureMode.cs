namespace Cachee.Sessions;

/// <summary>What a write does when Redis cannot be reached (see <see cref="CacheeOptions.WriteFailureMode"/>).</summary>
public enum WriteFailureMode
{
    /// <summary>
    /// The write throws <see cref="CacheUnavailableException"/> and changes nothing anywhere (the default). Nothing the
    /// caller was told is stored can be lost, on any instance, even if this instance dies.
    /// </summary>
    Throw = 0,

    /// <summary>
    /// The write is accepted: it is kept in this instance's L1 (served to its reads) and in a bounded replay queue, and written
    /// to Redis (and published) as soon as Redis answers again, unless Redis then holds a newer version of the entry, which
    /// is never overwritten. Until then other instances serve the previous value, and the queue lives in this process:
    /// writes still queued when the process dies are lost. A full queue makes further writes throw.
    /// </summary>
    Replay = 1,
}
