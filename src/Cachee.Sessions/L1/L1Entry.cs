namespace Cachee.Sessions.L1;

/// <summary>A copy to install in L1, or a look at one that is there.</summary>
/// <param name="Key">The key.</param>
/// <param name="Value">The bytes, handed to callers as they are (callers must not mutate them).</param>
/// <param name="Version">The version Redis gave this value.</param>
/// <param name="Epoch">The subscription epoch it was read or written in; it is served only while that epoch is current.</param>
/// <param name="ValidUntil">When it stops being served, on the <see cref="L1Clock"/>: never after Redis' expiry.</param>
/// <param name="RefreshLead">
/// For a sliding entry: how long (in ticks) before <paramref name="ValidUntil"/> a hit queues a background renewal in Redis
/// (the window less the tolerance); 0 for none.
/// </param>
internal readonly record struct L1Entry(string Key, byte[] Value, long Version, int Epoch, long ValidUntil, long RefreshLead = 0)
{
    public long Size => Value.Length;
}
