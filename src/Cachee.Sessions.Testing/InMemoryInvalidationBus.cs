using Cachee.Sessions.Invalidation;


namespace Cachee.Sessions.Testing;

/// <summary>
/// One instance's subscription to an <see cref="InMemoryInvalidationHub"/>. With <paramref name="coherenceUnavailable"/> it
/// plays a deployment it cannot cover (as the Redis bus does on a Redis Cluster): it reports that reason and never subscribes.
/// </summary>
internal sealed class InMemoryInvalidationBus(InMemoryInvalidationHub hub, string origin, string? coherenceUnavailable = null) : IInvalidationBus
{
    private IInvalidationListener? _listener;

    public string Origin => origin;

    public Task StartAsync(IInvalidationListener listener, CancellationToken token)
    {
        _listener = listener;
        if (coherenceUnavailable is not null)
        {
            listener.OnCoherenceUnavailable(coherenceUnavailable);
            return Task.CompletedTask;
        }

        hub.Connect(this);
        listener.OnSubscriptionEstablished();
        return Task.CompletedTask;
    }

    public void PublishAck(string writerOrigin, long ackId, string key) => _ = hub.Send(writerOrigin, InvalidationMessage.FormatAck(ackId, origin));

    /// <summary>Plays a lost subscription: messages published from now on are not heard.</summary>
    public void Cut()
    {
        hub.Disconnect(this);
        _listener?.OnSubscriptionLost();
    }

    /// <summary>Plays the subscription coming back.</summary>
    public void Restore()
    {
        hub.Connect(this);
        _listener?.OnSubscriptionEstablished();
    }

    /// <summary>Delivers a message as if it came through the channel (tests use it to play a rogue or foreign publisher).</summary>
    public void Deliver(string? message) => Deliver(InvalidationMessage.Parse(message));

    /// <summary>Delivers a parsed message (a tracking report, or one from the channel).</summary>
    public void Deliver(in ParsedMessage message) => _listener?.OnMessage(message);

    /// <summary>Plays a Redis Cluster node losing its connection: copies of the keys <paramref name="servedByIt"/> selects are dropped.</summary>
    public void LoseShard(Func<string, bool> servedByIt) => _listener?.OnShardLost(servedByIt);

    /// <summary>Plays a node being proven: its keys may be held again, reads begun before install nothing.</summary>
    public void ProveShard() => _listener?.OnShardProven();

    /// <summary>Plays Redis reporting that every key may have changed (FLUSHALL, or its tracking table overflowed).</summary>
    public void RevokeAll() => _listener?.OnAllRevoked();

    public void Dispose() => hub.Disconnect(this);
}
