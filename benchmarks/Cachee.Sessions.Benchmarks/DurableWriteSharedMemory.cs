using Microsoft.Extensions.Caching.Distributed;
using StackExchange.Redis;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// The ceiling plus the one thing the session workload demands of every store on every write: the shared in-process cache, whose writes
/// also wait for one Redis round trip (an <c>HSET</c> of the value) before returning. No Redis-backed store that makes a
/// modified session durable before the response can cost less; reads never touch Redis.
/// </summary>
internal sealed class DurableWriteSharedMemory(IDistributedCache shared, IDatabase redis, string prefix) : IDistributedCache
{
    public byte[]? Get(string key) => shared.Get(key);

    public Task<byte[]?> GetAsync(string key, CancellationToken token = default) => shared.GetAsync(key, token);

    public void Set(string key, byte[] value, DistributedCacheEntryOptions options)
    {
        _ = redis.HashSet(prefix + key, "data", value);
        shared.Set(key, value, options);
    }

    public async Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        _ = await redis.HashSetAsync(prefix + key, "data", value).ConfigureAwait(false);
        await shared.SetAsync(key, value, options, token).ConfigureAwait(false);
    }

    public void Refresh(string key) => shared.Refresh(key);

    public Task RefreshAsync(string key, CancellationToken token = default) => shared.RefreshAsync(key, token);

    public void Remove(string key)
    {
        _ = redis.KeyDelete(prefix + key);
        shared.Remove(key);
    }

    public async Task RemoveAsync(string key, CancellationToken token = default)
    {
        _ = await redis.KeyDeleteAsync(prefix + key).ConfigureAwait(false);
        await shared.RemoveAsync(key, token).ConfigureAwait(false);
    }
}
