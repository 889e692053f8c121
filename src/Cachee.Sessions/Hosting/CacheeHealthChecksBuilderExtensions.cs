using Cachee.Sessions;
using Cachee.Sessions.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the Cachee.Sessions health check to ASP.NET Core health checks.</summary>
public static class CacheeHealthChecksBuilderExtensions
{
    /// <summary>
    /// Reports the health of the application's <see cref="TieredDistributedCache"/> (registered by <c>AddCacheeSessions</c> or
    /// <c>AddCacheeDistributedCache</c>): Healthy when Redis answers and the invalidation subscription is live; Degraded while a
    /// stale copy is being served, a circuit breaker is half-open, writes wait in the replay queue, or Redis does not answer a
    /// <c>PING</c>; Unhealthy with a breaker open or the subscription lost for longer than
    /// <paramref name="subscriptionLossThreshold"/>. The result's data says which condition holds.
    /// </summary>
    /// <param name="builder">The health checks builder (<c>services.AddHealthChecks()</c>).</param>
    /// <param name="name">The check's name. Default <c>"cachee"</c>.</param>
    /// <param name="subscriptionLossThreshold">How long the subscription may be down before the check is Unhealthy (Degraded until then). Default 30 s.</param>
    /// <param name="staleWindow">How long after a stale copy was served the check stays Degraded. Default 1 minute.</param>
    /// <param name="tags">Tags for filtering (for example "ready").</param>
    /// <returns>The builder.</returns>
    public static IHealthChecksBuilder AddCacheeHealthCheck(
        this IHealthChecksBuilder builder, string name = "cachee", TimeSpan? subscriptionLossThreshold = null, TimeSpan? staleWindow = null,
        IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var threshold = subscriptionLossThreshold ?? TimeSpan.FromSeconds(30);
        var window = staleWindow ?? TimeSpan.FromMinutes(1);
        ArgumentOutOfRangeException.ThrowIfLessThan(threshold, TimeSpan.Zero, nameof(subscriptionLossThreshold));
        ArgumentOutOfRangeException.ThrowIfLessThan(window, TimeSpan.Zero, nameof(staleWindow));
        return builder.Add(new HealthCheckRegistration(
            name, services => new CacheeHealthCheck(services.GetRequiredService<TieredDistributedCache>(), threshold, window), failureStatus: null, tags));
    }
}
