using Cachee.Sessions.L2;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Cachee.Sessions.Hosting;

/// <summary>
/// The health of a <see cref="TieredDistributedCache"/> (see <c>AddCacheeHealthCheck</c>).
/// <list type="bullet">
/// <item>Unhealthy: a circuit breaker is open (calls fail at once), or the invalidation subscription has not been live for
/// longer than the threshold (L1 is off, and writes wait for nobody).</item>
/// <item>Degraded: a breaker is half-open, writes wait in the replay queue, a stale copy was served because Redis could not be
/// asked (within the stale window), the subscription is being made again (within the threshold), or Redis did not answer a
/// <c>PING</c>.</item>
/// <item>Healthy: Redis answers and the subscription is live.</item>
/// </list>
/// The data names each condition: <c>subscription</c>, <c>unsubscribedSeconds</c>, <c>breaker</c>, <c>replayPending</c>,
/// <c>staleServedSecondsAgo</c>, <c>redisPingMs</c>, <c>l1</c>.
/// </summary>
internal sealed class CacheeHealthCheck(TieredDistributedCache cache, TimeSpan subscriptionLossThreshold, TimeSpan staleWindow) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var state = cache.GetHealthState();
        var data = new Dictionary<string, object>
        {
            ["subscription"] = state.CoherenceUnavailable ? "none (L1 off)" : state.Subscribed ? "live" : "lost",
            ["breaker"] = state.Breaker switch { BreakerState.Open => "open", BreakerState.HalfOpen => "half-open", _ => "closed" },
            ["replayPending"] = state.ReplayPending,
            ["l1"] = state.CoherenceUnavailable ? "off" : state.Subscribed ? "serving" : "suspended",
        };
        if (state.UnsubscribedFor is { } lostFor && !state.CoherenceUnavailable)
        {
            data["unsubscribedSeconds"] = Math.Round(lostFor.TotalSeconds, 1);
        }

        if (state.SinceStaleServed is { } sinceStale)
        {
            data["staleServedSecondsAgo"] = Math.Round(sinceStale.TotalSeconds, 1);
        }

        if (state.Breaker == BreakerState.Open)
        {
            return HealthCheckResult.Unhealthy("Redis is failing: a circuit breaker is open and calls fail at once.", data: data);
        }

        if (!state.CoherenceUnavailable && state.UnsubscribedFor is { } unsubscribed && unsubscribed > subscriptionLossThreshold)
        {
            return HealthCheckResult.Unhealthy(
                $"The invalidation subscription has not been live for {unsubscribed.TotalSeconds:F0} s (threshold {subscriptionLossThreshold.TotalSeconds:F0} s): L1 is off.",
                data: data);
        }

        var degraded = new List<string>();
        try
        {
            data["redisPingMs"] = Math.Round((await cache.PingAsync(cancellationToken).ConfigureAwait(false)).TotalMilliseconds, 2);
        }
        catch (Exception ex) when (ex is TimeoutException or StackExchange.Redis.RedisException or CacheUnavailableException)
        {
            data["redisPingMs"] = "no answer";
            degraded.Add("Redis did not answer PING");
        }

        if (state.Breaker == BreakerState.HalfOpen)
        {
            degraded.Add("a circuit breaker is half-open");
        }

        if (state.ReplayPending > 0)
        {
            degraded.Add($"{state.ReplayPending} write(s) wait in the replay queue");
        }

        if (state.SinceStaleServed is { } stale && stale <= staleWindow)
        {
            degraded.Add("stale copies were served because Redis could not be asked");
        }

        if (!state.CoherenceUnavailable && !state.Subscribed)
        {
            degraded.Add("the invalidation subscription is being made");
        }

        return degraded.Count == 0
            ? HealthCheckResult.Healthy("Redis answers and the invalidation subscription is live.", data)
            : HealthCheckResult.Degraded(string.Join("; ", degraded) + ".", data: data);
    }
}
