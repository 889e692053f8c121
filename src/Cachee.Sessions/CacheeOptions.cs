using Cachee.Sessions.Redis;
using StackExchange.Redis;

namespace Cachee.Sessions;

/// <summary>
/// Settings of a <see cref="TieredDistributedCache"/>. The connection settings mirror Microsoft's
/// <c>RedisCacheOptions</c>, so moving from <c>AddStackExchangeRedisCache(o =&gt; …)</c> to
/// <c>AddCacheeSessions(o =&gt; …)</c> keeps the same lambda body.
/// </summary>
public sealed class CacheeOptions
{
    /// <summary>The largest value <see cref="L1MaxBytes"/> may take: 64 GiB.</summary>
    public const long MaxL1Bytes = 64L * 1024 * 1024 * 1024;

    /// <summary>
    /// The StackExchange.Redis configuration string, for example <c>"localhost:6379"</c> or
    /// <c>"sentinel1:26379,serviceName=mymaster"</c>. Used when neither <see cref="ConfigurationOptions"/>
    /// nor <see cref="ConnectionMultiplexerFactory"/> is set.
    /// </summary>
    public string? Configuration { get; set; }

    /// <summary>
    /// The StackExchange.Redis configuration; takes precedence over <see cref="Configuration"/>.
    /// <c>AbortOnConnectFail</c> is forced to <see langword="false"/> so that the application starts while Redis is down.
    /// </summary>
    public ConfigurationOptions? ConfigurationOptions { get; set; }

    /// <summary>
    /// Supplies an existing multiplexer (one per application is the StackExchange.Redis advice);
    /// takes precedence over both configuration settings. A multiplexer obtained this way is not disposed by the cache.
    /// </summary>
    public Func<Task<IConnectionMultiplexer>>? ConnectionMultiplexerFactory { get; set; }

    /// <summary>
    /// A certificate authority (PEM or DER file) trusted for the Redis server's TLS certificate, for servers whose certificate
    /// a private CA issued. The server's certificate must still carry the host name connected to, and certificates the machine
    /// trusts stay accepted. Needs TLS on in the configuration (<c>ssl=true</c>). Applies to every connection Cachee makes: the
    /// shared one, the subscription, the Data Protection key ring, the large-value and the acknowledged-write connections.
    /// Not used with <see cref="ConnectionMultiplexerFactory"/> (configure that multiplexer instead).
    /// </summary>
    public string? TlsCaCertificatePath { get; set; }

    /// <summary>
    /// A client certificate presented to Redis (mutual TLS, <c>tls-auth-clients yes</c>): a PEM file with its key in
    /// <see cref="TlsClientKeyPath"/> (or in the same file), or a PKCS#12 file (<c>.pfx</c>/<c>.p12</c>) with
    /// <see cref="TlsClientCertificatePassword"/>. Needs <c>ssl=true</c>; applies to every connection Cachee makes.
    /// </summary>
    public string? TlsClientCertificatePath { get; set; }

    /// <summary>The PEM private key of <see cref="TlsClientCertificatePath"/>, when not in the certificate's file.</summary>
    public string? TlsClientKeyPath { get; set; }

    /// <summary>The password of a PKCS#12 <see cref="TlsClientCertificatePath"/>, if it has one.</summary>
    public string? TlsClientCertificatePassword { get; set; }

    /// <summary>
    /// A prefix put in front of every key in Redis, exactly as <c>RedisCacheOptions.InstanceName</c> does,
    /// so that Cachee and RedisCache configured with the same value read each other's entries.
    /// </summary>
    public string? InstanceName { get; set; }

    /// <summary>
    /// The Redis pub/sub channel carrying invalidations. Default: <c>InstanceName + "__cachee:invalidations"</c>.
    /// Every instance sharing the keys must use the same channel.
    /// </summary>
    public string? InvalidationChannel { get; set; }

    /// <summary>Upper bound on the bytes of values kept in this instance's L1. Default 256 MiB. Allowed: 1 B to 64 GiB.</summary>
    public long L1MaxBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Upper bound on the number of entries kept in this instance's L1. Default 1,000,000. Allowed: 1 to 2,147,483,647.</summary>
    public int L1MaxEntries { get; set; } = 1_000_000;

    /// <summary>
    /// Values larger than this stay in Redis only and are never copied into L1. Default 4 MiB;
    /// 0 (nothing in L1) up to <see cref="L1MaxBytes"/>.
    /// </summary>
    public int L1MaxEntryBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// How far short of a full sliding window Redis may expire an entry that was last read.
    /// Reads served from L1 refresh the Redis entry in the background at most once per tolerance, and a read from Redis renews
    /// the entry (a second round trip) only when its time to live has fallen more than the tolerance below its window; so a
    /// smaller value means more Redis commands. <see langword="null"/> (the default) means 2% of the entry's sliding window, at most 30 seconds.
    /// An explicit value is used as given but never more than half of an entry's window. Allowed: 1 ms to 1 h.
    /// </summary>
    public TimeSpan? SlidingRefreshTolerance { get; set; }

    /// <summary>
    /// How long a write or remove waits, after Redis has applied it, for every other instance to acknowledge that it dropped
    /// its L1 copy. This is what makes a user's next request read the write on whichever instance it lands. Default 50 ms.
    /// Allowed: 0 to 5 s. <see cref="TimeSpan.Zero"/> turns acknowledgements off: other instances then converge within the
    /// pub/sub latency, but a request racing the invalidation may read the previous value.
    /// A wait that runs out is logged and counted (<c>cachee.invalidations.ack_timeouts</c>); the write itself has succeeded.
    /// </summary>
    public TimeSpan InvalidationAckTimeout { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// When true (the default), an instance that drops an L1 copy because another instance changed the entry fetches the new
    /// value from Redis right away, in the background. A user whose requests bounce between instances then finds the new value
    /// in L1 on the next one (or joins that fetch), instead of paying a blocking Redis read of its own in the request.
    /// Only keys this instance held are fetched; a fetch does not count as an access for sliding expiration.
    /// </summary>
    public bool PrefetchOnInvalidation { get; set; } = true;

    /// <summary>
    /// When true, an instance keeps L1 copies of a key only while they pay: while its copies of that key get hit before the
    /// key changes (see docs/design.md, "Holding copies only where they pay"). Not offered yet, and off: with it on, the
    /// large-context session benchmark served stale reads (docs/benchmarks.md), a race not yet understood. When false
    /// (the default), every read keeps a copy. Tests and benchmarks turn it on.
    /// </summary>
    internal bool HoldOnlyPayingCopies { get; set; }

    /// <summary>
    /// When true, reads answered from L1 are counted: <see cref="CacheeStatistics.L1Hits"/>, <see cref="CacheeStatistics.L1HitRatio"/>
    /// and the metric <c>cachee.l1.hits</c>. Off by default, as statistics are in <c>MemoryCache</c>: it is the one counter on the
    /// hit's path (its cost: docs/benchmarks.md). Every other counter, L1 misses included, is always kept: they are off the hit's path.
    /// </summary>
    public bool CountL1Hits { get; set; }

    /// <summary>
    /// The longest any cache call waits for Redis. Default 1 second. Allowed: 10 ms to 1 min. A read that runs out of time serves
    /// the L1 copy it has (stale-on-error, counted in <c>cachee.l1.stale_hits</c>) or throws <see cref="CacheUnavailableException"/>;
    /// a write throws it (or is queued, see <see cref="WriteFailureMode"/>). Writes carry a deadline of this timeout minus a
    /// margin (a quarter of it, at most 250 ms), checked by Redis against its own clock: a write that reaches Redis late, for
    /// example after a pause, is rejected there, so a write that threw does not take effect later.
    /// Blocking calls (<c>Get</c>, <c>Set</c>…) use StackExchange.Redis' own blocking calls, bounded by its <c>SyncTimeout</c>,
    /// which Cachee lowers to this value on the connections it creates; a multiplexer supplied through
    /// <see cref="ConnectionMultiplexerFactory"/> keeps its own <c>SyncTimeout</c>. A blocking call that has to connect
    /// first may wait for the connection up to 1 second when this timeout is shorter.
    /// </summary>
    public TimeSpan L2OperationTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// After this many Redis failures in a row (timeouts, lost connections, a loading or read-only server), the circuit breaker
    /// opens: calls fail at once, without waiting, for <see cref="CircuitBreakerBreakDuration"/>; then one call is let through
    /// as a probe, and the breaker closes when it succeeds. Default 5. Allowed: 1 to 1,000.
    /// </summary>
    public int CircuitBreakerFailureThreshold { get; set; } = 5;

    /// <summary>How long an open circuit breaker fails calls at once before letting a probe through. Default 2 seconds. Allowed: 10 ms to 5 min.</summary>
    public TimeSpan CircuitBreakerBreakDuration { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// What a write does when Redis cannot be reached: <see cref="WriteFailureMode.Throw"/> (the default: nothing changes and
    /// the caller knows) or <see cref="WriteFailureMode.Replay"/> (accepted into a bounded replay queue and L1, written to
    /// Redis when it is back unless Redis holds newer data). Removes always throw when Redis cannot be reached.
    /// </summary>
    public WriteFailureMode WriteFailureMode { get; set; } = WriteFailureMode.Throw;

    /// <summary>
    /// How <c>AddCacheeSessions</c> stores sessions: <see cref="SessionFormat.PerKey"/> (the default: key by key, so that a
    /// change of a small key neither rewrites nor invalidates a large one) or <see cref="SessionFormat.DistributedSession"/>
    /// (one value per session, as ASP.NET Core's <c>DistributedSession</c> writes it, while instances of the old stack still
    /// run). Either reads sessions stored in the other, so switching keeps users signed in.
    /// </summary>
    public SessionFormat SessionFormat { get; set; } = SessionFormat.PerKey;

    /// <summary>
    /// How many replicas must confirm a write or remove before it returns (Redis' <c>WAIT</c>). 0, the default: a write returns
    /// once the master applied it; replication is asynchronous, so a failover can lose it. n &gt; 0: each write runs, with its
    /// <c>WAIT</c>, on a connection of its own (<c>WAIT</c> blocks the connection it runs on, so it never holds up other calls),
    /// and fails with <see cref="CacheUnavailableException"/> when fewer than n replicas confirm it within half the write's
    /// window (it may then be on the master only, like any write whose answer did not come). The writer keeps no L1 copy of
    /// such a write (its next read fetches it). Set it to the number of replicas that can be promoted: a failover may promote
    /// a replica that did not confirm, and then the writes only the others had are lost. Needs <see cref="Configuration"/> or
    /// <see cref="ConfigurationOptions"/>, not <see cref="ConnectionMultiplexerFactory"/>. Allowed: 0 to 16.
    /// </summary>
    public int MinReplicasToAcknowledge { get; set; }

    /// <summary>
    /// Values of at least this many bytes travel on connections of their own (<see cref="LargeValueConnections"/>), so that
    /// moving them never holds up the small commands, invalidations and acknowledgements behind them on the shared
    /// connection. Writes of such values go there; so do reads of keys this instance last saw holding one (the first read of
    /// a key is on the shared connection, as the size is not known before). Default 64 KiB. Allowed: 1 KiB to 512 MiB.
    /// </summary>
    public int LargeValueThreshold { get; set; } = 64 * 1024;

    /// <summary>
    /// How many connections of its own carry large values (see <see cref="LargeValueThreshold"/>); they are made on first
    /// use. 0 sends large values over the shared connection. Default 2. Allowed: 0 to 16. Needs <see cref="Configuration"/> or
    /// <see cref="ConfigurationOptions"/>: with <see cref="ConnectionMultiplexerFactory"/>, large values use the application's
    /// multiplexer.
    /// </summary>
    public int LargeValueConnections { get; set; } = 2;

    /// <summary>
    /// When true, values of at least <see cref="CompressionThreshold"/> bytes are stored LZ4-compressed when that makes them
    /// smaller (a hash field <c>enc</c> marks them). Off by default: RedisCache cannot read compressed entries. Every Cachee
    /// instance reads compressed and plain entries whatever this says, so it can be switched on instance by instance once
    /// all run a version that reads them. A compressed payload that does not decompress is a logged miss.
    /// </summary>
    public bool CompressValues { get; set; }

    /// <summary>The size from which values are compressed (<see cref="CompressValues"/>). Default 4 KiB. Allowed: 256 B to 512 MiB.</summary>
    public int CompressionThreshold { get; set; } = 4 * 1024;

    /// <summary>
    /// When true, values are encrypted with AES-256-GCM before they reach Redis, under the active key of
    /// <see cref="EncryptionKeyRing"/> or <see cref="EncryptionKeys"/>, so that Redis, its replicas and its backups hold
    /// nothing readable. Each payload carries its key's id, and its Redis key name is bound into the authentication, so a
    /// payload copied to another key does not decrypt. Off by default: RedisCache cannot read encrypted entries. Every instance
    /// with the keys reads encrypted entries whatever this says, so a fleet is given the keys first and this is switched on
    /// after. A payload that does not decrypt (tampered, copied, or under a key no longer in the ring) is a logged, counted miss.
    /// </summary>
    public bool EncryptValues { get; set; }

    /// <summary>
    /// The encryption keys (see <see cref="EncryptValues"/>), from configuration. Values are encrypted with
    /// <see cref="EncryptionActiveKeyId"/>, or the last key listed; reads accept every key listed. To rotate: add the new key
    /// to every instance, then make it active, then remove the old one once the entries written under it have expired.
    /// </summary>
    public IList<CacheeEncryptionKey> EncryptionKeys { get; set; } = [];

    /// <summary>The id of the key in <see cref="EncryptionKeys"/> new values are encrypted with. Default: the last key listed.</summary>
    public string? EncryptionActiveKeyId { get; set; }

    /// <summary>
    /// The keys, from code (a vault, a key management service); takes precedence over <see cref="EncryptionKeys"/>. With
    /// <c>AddCacheeSessions</c> or <c>AddCacheeDistributedCache</c>, an <see cref="IEncryptionKeyRing"/> registered in the
    /// container is taken when this is not set.
    /// </summary>
    public IEncryptionKeyRing? EncryptionKeyRing { get; set; }

    /// <summary>
    /// When true, an entry in Redis that is not encrypted is a logged miss instead of being read, so that nobody who can
    /// write to Redis can plant a value. Switch it on once every entry written before <see cref="EncryptValues"/> has
    /// expired. Needs <see cref="EncryptValues"/>.
    /// </summary>
    public bool RequireEncryptedValues { get; set; }

    /// <summary>How many keys the replay queue holds at most (<see cref="WriteFailureMode.Replay"/>). Default 10,000. Allowed: 1 to 1,000,000.</summary>
    public int ReplayQueueCapacity { get; set; } = 10_000;

    /// <summary>How often the background upkeep removes expired entries from L1. Default 1 minute. Allowed: 1 s to 1 h.</summary>
    public TimeSpan ExpirationScanInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// When true (the default), <c>AddCacheeSessions</c> keeps the ASP.NET Core Data Protection key ring in the same Redis and
    /// gives every instance the same application name, so that a session cookie issued by one instance is readable by all.
    /// Skipped, each on its own, when the application configures its own key storage (for example <c>PersistKeysToFileSystem</c>)
    /// or its own application name (<c>SetApplicationName</c>).
    /// </summary>
    public bool ShareDataProtectionKeys { get; set; } = true;

    /// <summary>The Redis key holding the Data Protection key ring. Default: <c>InstanceName + "cachee:data-protection-keys"</c>.</summary>
    public string? DataProtectionKeyRingKey { get; set; }

    /// <summary>
    /// The Data Protection application name shared by the instances. Default: <c>"Cachee.Sessions"</c> followed by
    /// <see cref="InstanceName"/>. Applications with different names cannot read each other's cookies.
    /// </summary>
    public string? DataProtectionApplicationName { get; set; }
}
