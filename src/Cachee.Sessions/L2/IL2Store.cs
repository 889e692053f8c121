namespace Cachee.Sessions.L2;

/// <summary>
/// The shared tier. Every write and remove publishes its invalidation atomically with the change, so that the order of
/// invalidations on the channel is the order of the changes in the store.
/// Each method completes synchronously when <c>sync</c> is true: one implementation serves the sync and async APIs.
/// </summary>
internal interface IL2Store
{
    /// <summary>
    /// Reads an entry; when <paramref name="refreshSliding"/> is set, a sliding entry's expiry is renewed in the same step.
    /// When <paramref name="acknowledge"/> is given, the writer's acknowledgement is published in the same step too (a prefetch
    /// after an invalidation acknowledges with the read that fetched the new value: one command instead of two).
    /// </summary>
    /// <returns>The entry, or null when there is none.</returns>
    /// <exception cref="L2PayloadException">The stored payload is not a readable entry.</exception>
    ValueTask<L2Entry?> GetAsync(
        string key, bool refreshSliding, long nowTicks, bool sync, CancellationToken token, Acknowledgement? acknowledge = null);

    /// <summary>
    /// Writes an entry and publishes its invalidation (asking for acknowledgement <paramref name="ackId"/>, 0 for none);
    /// returns the version the store assigned and how many subscribers the invalidation reached.
    /// </summary>
    ValueTask<L2WriteResult> SetAsync(
        string key, byte[] value, EntryExpiration expiration, long ttlMilliseconds, long ackId, bool sync, CancellationToken token);

    /// <summary>Removes an entry (if any) and publishes its invalidation, as <see cref="SetAsync"/> does.</summary>
    ValueTask<L2WriteResult> RemoveAsync(string key, long ackId, bool sync, CancellationToken token);

    /// <summary>
    /// Writes a write queued while Redis was unreachable, only if the entry is still at the version the write was based on,
    /// and publishes its invalidation as <see cref="SetAsync"/> does.
    /// </summary>
    /// <returns>What the write did, or null when Redis holds another (newer) version, which is left alone.</returns>
    ValueTask<L2WriteResult?> ReplayAsync(ReplayedWrite write, long ttlMilliseconds, bool sync, CancellationToken token);

    /// <summary>
    /// Renews a sliding entry's expiry. With <paramref name="expectedVersion"/> ≥ 0 nothing is done unless the stored version matches.
    /// </summary>
    /// <returns>The new time to live, and whether the renewal reached the absolute expiration.</returns>
    ValueTask<Renewal> RefreshAsync(string key, long expectedVersion, long nowTicks, bool sync, CancellationToken token);
}

/// <summary>Codes returned by <see cref="IL2Store.RefreshAsync"/> besides a time to live.</summary>
internal static class RefreshOutcome
{
    /// <summary>The entry has no expiry.</summary>
    public const long NoExpiry = -1;

    /// <summary>There is no such entry.</summary>
    public const long Missing = -2;

    /// <summary>The entry was rewritten since the expected version.</summary>
    public const long VersionChanged = -3;
}

/// <summary>What a renewal of an entry's expiry did.</summary>
/// <param name="TtlMilliseconds">The time to live after it in milliseconds (-1: no expiry), or a <see cref="RefreshOutcome"/> code below -1.</param>
/// <param name="ReachedAbsoluteExpiration">
/// True when the renewed expiry is the entry's absolute expiration: no later renewal can move it, so none need be sent.
/// </param>
internal readonly record struct Renewal(long TtlMilliseconds, bool ReachedAbsoluteExpiration)
{
    /// <summary>There is no such entry (or it just passed its absolute expiration).</summary>
    public static Renewal Missing => new(RefreshOutcome.Missing, false);

    /// <summary>The entry was rewritten since the expected version.</summary>
    public static Renewal VersionChanged => new(RefreshOutcome.VersionChanged, false);

    /// <summary>True when the entry is still there at the expected version.</summary>
    public bool Found => TtlMilliseconds >= RefreshOutcome.NoExpiry;
}

/// <summary>What a write or remove did in the L2 store.</summary>
/// <param name="Version">The version the change was published with.</param>
/// <param name="Receivers">How many subscribers the invalidation reached, this instance included when it listens.</param>
internal readonly record struct L2WriteResult(long Version, long Receivers);

/// <summary>The acknowledgement a writer asked for: which instance, and which of its writes.</summary>
internal readonly record struct Acknowledgement(string WriterOrigin, long AckId);

/// <summary>A write accepted while Redis was unreachable, waiting to be replayed.</summary>
/// <param name="Key">The key.</param>
/// <param name="Value">The value written.</param>
/// <param name="Expiration">Its expiration settings; the time to live is computed again when it is replayed.</param>
/// <param name="BaseVersion">The version of the entry this instance knew when the write was made (0: none).</param>
internal sealed record ReplayedWrite(string Key, byte[] Value, EntryExpiration Expiration, long BaseVersion);
