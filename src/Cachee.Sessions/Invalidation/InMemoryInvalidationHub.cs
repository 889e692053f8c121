namespace Cachee.Sessions.Invalidation;

/// <summary>
/// An in-process stand-in for a Redis pub/sub channel: delivers every published message, synchronously and in order,
/// to every connected bus. Tests cut and restore a bus' subscription to play a network gap.
/// </summary>
internal sealed class InMemoryInvalidationHub
{
    private readonly Lock _gate = new();
    private readonly List<InMemoryInvalidationBus> _connected = [];

    /// <summary>Delivers a message to every connected bus; returns how many there were, as Redis' PUBLISH does.</summary>
    public long Publish(string message)
    {
        InMemoryInvalidationBus[] targets;
        lock (_gate)
        {
            targets = [.. _connected];
        }

        foreach (var bus in targets)
        {
            bus.Deliver(message);
        }

        return targets.Length;
    }

    /// <summary>Delivers an acknowledgement to the connected bus of <paramref name="origin"/>, if any.</summary>
    public void PublishAck(string origin, string message)
    {
        InMemoryInvalidationBus? target;
        lock (_gate)
        {
            target = _connected.Find(bus => bus.Origin == origin);
        }

        target?.Deliver(message);
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
