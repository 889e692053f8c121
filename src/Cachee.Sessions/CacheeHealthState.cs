using Cachee.Sessions.L2;


namespace Cachee.Sessions;

/// <summary>What a cache's health is judged on (see <c>CacheeHealthCheck</c>).</summary>
/// <param name="Subscribed">The invalidation subscription is proven live (L1 serves).</param>
/// <param name="UnsubscribedFor">How long it has not been, since start-up or since it was lost; null while it is.</param>
/// <param name="CoherenceUnavailable">The deployment cannot be kept coherent (L1 off by design; see <c>OnCoherenceUnavailable</c>).</param>
/// <param name="Breaker">The worst circuit breaker state among the Redis nodes.</param>
/// <param name="ReplayPending">Writes waiting in the replay queue.</param>
/// <param name="SinceStaleServed">How long ago a stale copy was last served because Redis could not be asked; null: never.</param>
internal readonly record struct CacheeHealthState(
    bool Subscribed, TimeSpan? UnsubscribedFor, bool CoherenceUnavailable, BreakerState Breaker, long ReplayPending, TimeSpan? SinceStaleServed);
