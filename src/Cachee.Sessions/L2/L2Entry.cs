namespace Cachee.Sessions.L2;

/// <summary>An entry as read from the L2 store.</summary>
/// <param name="Data">The stored bytes.</param>
/// <param name="Expiration">The stored expiration values.</param>
/// <param name="Version">The version Redis assigned at the last Cachee write (0 for entries written by plain RedisCache).</param>
/// <param name="Ttl">Its time to live after the read (and its sliding renewal); <see cref="RedisTtl.Unknown"/> when it must not be kept in L1.</param>
internal readonly record struct L2Entry(byte[] Data, EntryExpiration Expiration, long Version, RedisTtl Ttl);
