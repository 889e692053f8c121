using Cachee.Sessions.Invalidation;


namespace Cachee.Sessions.Testing;

/// <summary>
/// An in-process stand-in for Redis pub/sub and tracking: delivers each message, synchronously and in order, to the connected
/// bus of the instance it is meant for. Tests cut and restore a bus' subscription to play a network gap.
/// </summary>
internal sealed class InMemoryInvalidationHub
{
    private readonly Lock _gate = new();
    private readonly List<InMemoryInvalidationBus> _connected = [];

    /// <summary>Delivers a message to the connected bus of <paramref name="origin"/>; returns 1 if there is one, else 0, as Redis' PUBLISH counts.</summary>
    public long Send(string origin, string message)
    {
        var target = Find(origin);
        target?.Deliver(message);
        return target is null ? 0 : 1;
    }

    /// <summary>Tells the connected bus of <paramref name="origin"/>, if any, that a key it read changed (as tracking does).</summary>
    public void Revoke(string origin, string key) =>
        Find(origin)?.Deliver(new ParsedMessage(MessageKind.Revoked, string.Empty, 0, 0, key));

    private InMemoryInvalidationBus? Find(string origin)
    {
        lock (_gate)
        {
            return _connected.Find(bus => bus.Origin == origin);
        }
    }

    internal void Connect(InMemoryInvalidationBus bus)
    {
        lock (_gate)
        {
            if (!_connected.Contains(bus))
            {
                _connected.Add(bus);
            }
        }
    }

    internal void Disconnect(InMemoryInvalidationBus bus)
    {
        lock (_gate)
        {
            _ = _connected.Remove(bus);
        }
    }
}
