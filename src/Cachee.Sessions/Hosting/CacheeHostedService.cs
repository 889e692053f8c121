using Microsoft.Extensions.Hosting;

namespace Cachee.Sessions.Hosting;

/// <summary>
/// Ties a <see cref="TieredDistributedCache"/> to the host's lifetime: the invalidation subscription is made when the host
/// starts, which fails if Redis refuses this cache's user or connection (see <see cref="TieredDistributedCache.CheckAccessAsync"/>), and when it stops, writes queued for replay are written to Redis and pending sliding renewals are sent, within the
/// host's shutdown deadline. It owns nothing: the container disposes the cache, once.
/// </summary>
internal sealed class CacheeHostedService(TieredDistributedCache cache) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await cache.Coordinator.StartAsync(cancellationToken).ConfigureAwait(false);
        await cache.CheckAccessAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) => cache.StopAsync(cancellationToken);
}
