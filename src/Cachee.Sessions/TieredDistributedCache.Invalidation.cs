using Cachee.Sessions.Diagnostics;
using Cachee.Sessions.L2;


namespace Cachee.Sessions;

// When a key changed: the coordinator has dropped the old copy (and acknowledged to a Cachee writer); here fetches begun
// before the change stop being joinable, and a copy in use here is fetched again at once.
public sealed partial class TieredDistributedCache
{
    /// <summary>
    /// Called by the coordinator when <paramref name="key"/> changed: fetches begun before the change may no longer be joined,
    /// and a copy that was read since it was loaded here (<paramref name="wasHot"/>) is fetched again at once (when prefetching
    /// is on), registered as the fetch to join, so that the user's next request here finds the new value without a blocking
    /// Redis read of its own. A copy nobody read is just dropped: this instance leaves the key's holders until it reads it again.
    /// A large value is not fetched ahead (<see cref="L2.IL2Store.IsLarge"/>): each change would move it to every holder, for a
    /// next read that, without affinity, may well come to another instance.
    /// </summary>
    private void OnInvalidated(string key, bool wasHot)
    {
        _ = _fetches.TryRemove(key, out _);
        if (!wasHot || !_prefetch || _l2.IsLarge(key) || !_holding.ShouldHold(Sessions.L1.L1Store.Hash(key)))
        {
            return;
        }

        var fetch = new TaskCompletionSource<byte[]?>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_fetches.TryAdd(key, fetch.Task))
        {
            // Started here, on the message loop, up to its first await: its read then reaches Redis right behind the
            // acknowledgement just sent, and Redis takes both in one round trip. The rest runs on the thread pool.
            _ = PrefetchAsync(key, fetch);
        }
    }

    // A prefetch is not an access: it does not renew a sliding entry in Redis.
    private async Task PrefetchAsync(string key, TaskCompletionSource<byte[]?> fetch)
    {
        try
        {
            _counters.Prefetches.Increment();
            fetch.SetResult(await FetchAsync(key, refreshSliding: false, sync: false, CancellationToken.None).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            Log.PrefetchFailed(_logger, new RedactedKey(key), ex);
            fetch.SetException(ex);
            _ = fetch.Task.Exception;
        }
        finally
        {
            _ = _fetches.TryRemove(KeyValuePair.Create(key, fetch.Task));
        }
    }
}
