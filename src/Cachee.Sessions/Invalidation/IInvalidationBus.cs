

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
}
