using System.Threading.Channels;

namespace Cachee.Sessions.L1;

/// <summary>
/// Sliding copies that L1 hits found due for renewal in Redis, (key, version) in the order asked: L1 writes them (at most
/// once per copy until the renewal completes), the coordinator reads and sends them. Made first and handed to both, so that
/// neither needs the other to be built.
/// </summary>
internal sealed class RenewalRequests
{
    private readonly Channel<(string Key, long Version)> _requests =
        Channel.CreateUnbounded<(string Key, long Version)>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>The requests, for the one reader that sends them.</summary>
    public ChannelReader<(string Key, long Version)> Reader => _requests.Reader;

    /// <summary>Asks for a renewal of the copy of <paramref name="key"/> at <paramref name="version"/>; ignored once completed.</summary>
    public void Ask(string key, long version) => _ = _requests.Writer.TryWrite((key, version));

    /// <summary>No more requests will be read (the cache is closing).</summary>
    public void Complete() => _ = _requests.Writer.TryComplete();
}
