

namespace Cachee.Sessions.Invalidation;

/// <summary>Receives what an <see cref="IInvalidationBus"/> hears. Calls for one bus never overlap.</summary>
internal interface IInvalidationListener
{
    /// <summary>A message arrived on the invalidation channel (in publication order) or on this instance's acknowledgement channel.</summary>
    void OnMessage(in ParsedMessage message);

    /// <summary>Redis reported that every key may have changed (a flush, or its tracking table overflowed): drop every copy.</summary>
    void OnAllRevoked();

    /// <summary>
    /// Redis cannot report changes made by other clients to this instance (<paramref name="reason"/> says why): copies stay
    /// coherent with Cachee writers only. Reported once.
    /// </summary>
    void OnRevocationUnavailable(string reason);

    /// <summary>
    /// On a Redis Cluster, one node lost a connection: changes of the keys it serves (<paramref name="servedByIt"/>) may go
    /// unheard from now on (the bus holds their copies back, see <c>IKeyTopology.CanHold</c>, until it is back).
    /// </summary>
    void OnShardLost(Func<string, bool> servedByIt);

    /// <summary>
    /// On a Redis Cluster, a node was proven (again, or for the first time, such as a replica a failover promoted): its keys
    /// may be held from now on, but reads begun before may have gone unheard by tracking, so they must not install copies.
    /// </summary>
    void OnShardProven();

    /// <summary>The subscription was lost: messages may be missed from now on.</summary>
    void OnSubscriptionLost();

    /// <summary>The subscription is proven live (a probe went round): from now on every message is heard.</summary>
    void OnSubscriptionEstablished();

    /// <summary>
    /// The bus cannot guarantee that this instance hears every change on this Redis deployment (<paramref name="reason"/>
    /// says why), so it did not subscribe: L1 must stay off, and no acknowledgement can be waited for.
    /// </summary>
    void OnCoherenceUnavailable(string reason);
}
