namespace Cachee.Sessions.L1;

/// <summary>What <see cref="L1Store.Invalidate"/> dropped.</summary>
internal enum DroppedCopy
{
    /// <summary>No copy (or one already at the new version or newer).</summary>
    None,

    /// <summary>A copy fetched ahead of demand that nobody read since.</summary>
    Unused,

    /// <summary>A copy that was read (or loaded for a read) since it was installed.</summary>
    Used,
}
