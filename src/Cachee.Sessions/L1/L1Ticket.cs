namespace Cachee.Sessions.L1;

/// <summary>
/// Taken before an L2 operation whose result may be installed in L1 afterwards; remembers what L1 looked like then,
/// so that a result which raced with an invalidation, a local write or a subscription gap is never installed.
/// </summary>
internal readonly record struct L1Ticket(string Key, ulong Hash, int Stamp, int Epoch)
{
    /// <summary>False when L1 was not trusted at the start (no live subscription): nothing may be installed.</summary>
    public bool CanInstall => Epoch != 0;
}
