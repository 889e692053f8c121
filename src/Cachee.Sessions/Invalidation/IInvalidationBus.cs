using Cachee.Sessions.L2;




namespace Cachee.Sessions.Invalidation;

/// <summary>The receiving side of the invalidation channel (publishing is done by the L2 store, atomically with each change).</summary>
internal interface IInvalidationBus : IDisposable
{
    /// <summary>
    /// Subscribes <paramref name="listener"/> and returns once the subscription is proven live (after which
    /// <see cref="IInvalidationListener.OnSubscriptionEstablished"/> has been called). Later losses and recoveries are reported
    /// through the listener. Throws if the subscription cannot be made now; the caller retries.
    /// </summary>
    Task StartAsync(IInvalidationListener listener, CancellationToken token);

    /// <summary>
    /// Subscribes to a channel of this cache's own and leaves it, so that a Redis user without the channel permissions Cachee
    /// needs is found at start-up. Throws what Redis answered (a <c>NOPERM</c> error) or why it could not be asked.
    /// </summary>
    Task CheckAccessAsync(CancellationToken token) => Task.CompletedTask;

    /// <summary>
    /// Tells the instance <paramref name="writerOrigin"/> that its invalidation <paramref name="ackId"/> of <paramref name="key"/>
    /// was applied here (fire and forget).
    /// </summary>
    void PublishAck(string writerOrigin, long ackId, string key);

    /// <summary>
    /// False while changes of <paramref name="key"/> may go unheard although the bus as a whole is live (on a Redis Cluster,
    /// the node that serves it lost a connection): no copy of it may be kept meanwhile.
    /// </summary>
    bool CanHold(string key);

    /// <summary>
    /// The Redis node that serves <paramref name="key"/> now, on a Redis Cluster; null where one node serves every key (a
    /// single node, Sentinel). Calls for keys of different nodes fail independently (see <c>CircuitBreakers</c>).
    /// </summary>
    object? NodeOf(string key);

    /// <summary>
    /// Calls for a node failed until its circuit breaker opened: on a Redis Cluster the node may have become a replica (a
    /// graceful failover), so the connection learns the layout again. Nothing to do elsewhere.
    /// </summary>
    void LayoutMayHaveChanged();
}
