namespace Cachee.Sessions.L2;

/// <summary>
/// The shared tier. Beside each entry it keeps a registry of its holders: the instances that read the entry since its last
/// change (a read that registers is added before the entry is read, so no change can slip between the two). Every write and
/// remove sends its invalidation to those holders only, atomically with the change, so that each holder hears a key's
/// changes in change order, and empties the registry; the writer is its first new member.
/// A registration lasts <see cref="HolderRegistry.Lifetime"/> from when it was asked for (reads, writes and renewals renew
/// it), so no copy may be served longer than that after the step that registered it.
/// Each method completes synchronously when <c>sync</c> is true: one implementation serves the sync and async APIs.
/// </summary>
internal interface IL2Store
{
    /// <summary>
    /// Whether <paramref name="key"/> held a large value when this instance last read or wrote it
    /// (<see cref="CacheeOptions.LargeValueThreshold"/>): such a value is not fetched again ahead of need when it changes.
    /// </summary>
    bool IsLarge(string key) => false;

    /// <summary>
    /// Runs, once, the kinds of commands the store sends (a read of an entry, a write script) on a key of Cachee's own that
    /// holds nothing, so that a Redis user without the permissions Cachee needs is found at start-up. Throws what Redis
    /// answered (a <c>NOPERM</c> error) or why it could not be asked.
    /// </summary>
    Task CheckAccessAsync(CancellationToken token) => Task.CompletedTask;

    /// <summary>Why the store's connection is being refused (a TLS certificate, credentials), when it is; else null.</summary>
    string? ConnectionProblem => null;

    /// <summary>
    /// Reads an entry; when <paramref name="register"/> is set, this instance is registered as a holder first and told of
    /// every later change (it may keep a copy); otherwise the read leaves no trace (no registration, no tracking) where the
    /// store can manage it. When <paramref name="refreshSliding"/> is set, a sliding entry's expiry is renewed in the same step.
    /// </summary>
    /// <returns>The entry, or null when there is none.</returns>
    /// <exception cref="L2PayloadException">The stored payload is not a readable entry.</exception>
    ValueTask<L2Entry?> GetAsync(
        string key, bool register, bool refreshSliding, long nowTicks, bool sync, CancellationToken token);

    /// <summary>
    /// Writes an entry and sends its invalidation to the entry's holders (asking for acknowledgement <paramref name="ackId"/>,
    /// 0 for none); returns the version the store assigned and how many holders heard the invalidation. With
    /// <paramref name="hold"/>, the writer becomes the first holder of the new version (it keeps a copy); otherwise it is
    /// neither registered nor told of later changes.
    /// </summary>
    ValueTask<L2WriteResult> SetAsync(
        string key, byte[] value, EntryExpiration expiration, long ttlMilliseconds, long ackId, bool hold, bool sync, CancellationToken token);

    /// <summary>Removes an entry (if any) and publishes its invalidation, as <see cref="SetAsync"/> does.</summary>
    ValueTask<L2WriteResult> RemoveAsync(string key, long ackId, bool sync, CancellationToken token);

    /// <summary>
    /// Writes a write queued while Redis was unreachable, only if the entry is still at the version the write was based on,
    /// and publishes its invalidation as <see cref="SetAsync"/> does.
    /// </summary>
    /// <returns>What the write did, or null when Redis holds another (newer) version, which is left alone.</returns>
    ValueTask<L2WriteResult?> ReplayAsync(ReplayedWrite write, long ttlMilliseconds, bool sync, CancellationToken token);

    /// <summary>
    /// Changes several entries of one cluster slot in one step (each key set or removed exactly as <see cref="SetAsync"/> and
    /// <see cref="RemoveAsync"/> would, with the same invalidations, all asking for acknowledgement <paramref name="ackId"/>),
    /// and only if the <paramref name="guard"/> entry, when given, is still at its version (0: no entry). Other instances see
    /// all of the changes or none.
    /// </summary>
    /// <returns>What each change did, in order; null when the guard found another version (nothing was changed).</returns>
    ValueTask<L2WriteResult[]?> WriteManyAsync(IReadOnlyList<KeyChange> changes, VersionGuard? guard, long ackId, bool sync, CancellationToken token);

    /// <summary>
    /// Renews a sliding entry's expiry; with <paramref name="expectedVersion"/>, only if the entry is still at that version.
    /// With <paramref name="register"/>, a renewal also renews this instance's registration as a holder (it keeps its copy).
    /// </summary>
    /// <returns>Whether it was renewed, its time to live after, and whether that reached the absolute expiration.</returns>
    ValueTask<Renewal> RefreshAsync(string key, long? expectedVersion, bool register, long nowTicks, bool sync, CancellationToken token);
}

/// <summary>What a renewal of an entry's expiry found.</summary>
internal enum RenewalStatus
{
    /// <summary>The entry is there (at the expected version) and its expiry was renewed if it has a sliding window.</summary>
    Renewed,

    /// <summary>There is no such entry (or it just passed its absolute expiration).</summary>
    Missing,

    /// <summary>The entry was rewritten since the expected version.</summary>
    VersionChanged,
}

/// <summary>What a renewal of an entry's expiry did.</summary>
/// <param name="Status">Whether the entry was there to renew.</param>
/// <param name="Ttl">Its time to live after the renewal (<see cref="RedisTtl.Unknown"/> unless renewed).</param>
/// <param name="ReachedAbsoluteExpiration">
/// True when the renewed expiry is the entry's absolute expiration: no later renewal can move it, so none need be sent.
/// </param>
internal readonly record struct Renewal(RenewalStatus Status, RedisTtl Ttl, bool ReachedAbsoluteExpiration)
{
    /// <summary>There is no such entry.</summary>
    public static Renewal Missing => new(RenewalStatus.Missing, RedisTtl.Unknown, false);

    /// <summary>The entry was rewritten since the expected version.</summary>
    public static Renewal VersionChanged => new(RenewalStatus.VersionChanged, RedisTtl.Unknown, false);

    /// <summary>Renewed, with this time to live after.</summary>
    public static Renewal Renewed(RedisTtl ttl, bool reachedAbsoluteExpiration) => new(RenewalStatus.Renewed, ttl, reachedAbsoluteExpiration);
}

/// <summary>What a write or remove did in the L2 store.</summary>
/// <param name="Version">The version the change was published with.</param>
/// <param name="Receivers">How many other instances heard the invalidation: the live holders, whose acknowledgements the writer waits for.</param>
/// <param name="KeepCopy">False when the writer must keep no L1 copy (a write acknowledged by replicas, see <see cref="CacheeOptions.MinReplicasToAcknowledge"/>).</param>
internal readonly record struct L2WriteResult(long Version, long Receivers, bool KeepCopy = true);

/// <summary>One change of a <see cref="IL2Store.WriteManyAsync"/>: a value to write, or a removal.</summary>
/// <param name="Key">The key; every key of one call shares a cluster slot.</param>
/// <param name="Value">The value; null to remove the entry.</param>
/// <param name="Expiration">The value's expiration settings (ignored for a removal).</param>
/// <param name="TtlMilliseconds">The value's time to live (ignored for a removal).</param>
/// <param name="Hold">Whether the writer keeps a copy of the value (as <see cref="IL2Store.SetAsync"/>'s hold).</param>
internal readonly record struct KeyChange(string Key, byte[]? Value, EntryExpiration Expiration, long TtlMilliseconds, bool Hold = true);

/// <summary>The condition of a <see cref="IL2Store.WriteManyAsync"/>: <paramref name="Key"/> is still at <paramref name="Version"/> (0: no entry).</summary>
internal readonly record struct VersionGuard(string Key, long Version);

/// <summary>A write accepted while Redis was unreachable, waiting to be replayed.</summary>
/// <param name="Key">The key.</param>
/// <param name="Value">The value written.</param>
/// <param name="Expiration">Its expiration settings; the time to live is computed again when it is replayed.</param>
/// <param name="BaseVersion">The version of the entry this instance knew when the write was made (0: none).</param>
internal sealed record ReplayedWrite(string Key, byte[] Value, EntryExpiration Expiration, long BaseVersion);

/// <summary>How long a holder's registration beside an entry lasts.</summary>
internal static class HolderRegistry
{
    /// <summary>
    /// A registration lasts this long after the read, write or renewal that made it (each of them makes it again), so an L1
    /// copy is served at most this long after the last of them. Long enough to cost nothing noticeable (a hot copy is renewed
    /// far more often), short enough that registries of entries gone from Redis do not linger.
    /// </summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);
}
