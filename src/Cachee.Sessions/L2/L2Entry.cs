namespace Cachee.Sessions.L2;

/// <summary>An entry as read from the L2 store.</summary>
/// <param name="Data">The stored bytes.</param>
/// <param name="Expiration">The stored expiration values.</param>
/// <param name="Version">The version Redis assigned at the last Cachee write (0 for entries written by plain RedisCache).</param>
/// <param name="TtlMilliseconds">
/// The remaining time to live after the read (and its sliding refresh); -1 for none; -2 when not known (the value must not be
/// kept in L1).
/// </param>
internal readonly record struct L2Entry(byte[] Data, EntryExpiration Expiration, long Version, long TtlMilliseconds);
