using System.Collections.Concurrent;
using Cachee.Sessions.Diagnostics;
using Cachee.Sessions.Invalidation;
using Cachee.Sessions.L1;
using Cachee.Sessions.L2;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.Coordination;

/// <summary>
/// Applies what the bus hears to L1: invalidations from writers (acknowledged once the copy is dropped), revocations from
/// Redis' tracking, and the subscription's gaps (L1 is served only while it is live, and starts a new epoch after a gap).
/// </summary>
internal sealed class InvalidationApplier(
    L1Store l1, HoldingPolicy holding, GuardedL2Store l2, IInvalidationBus bus, CacheeCounters counters, TimeProvider time, ILogger logger, string instanceId)
    : IInvalidationListener
{
    private static readonly TimeSpan MalformedLogInterval = TimeSpan.FromMinutes(1);

    // Keys whose copy, in use here, was revoked by Redis' tracking, with when (L1 clock): the writer's invalidation that
    // usually follows at once prefetches them. Forgotten after a second (a change by another client has no such follower).
    private readonly ConcurrentDictionary<string, long> _revokedWhileHot = new(StringComparer.Ordinal);
    private long? _lastMalformedLogged; // messages are delivered one at a time (IInvalidationListener): no lock needed
    private long _malformedSinceLogged;
    private long _unsubscribedSince = time.GetTimestamp(); // 0 while subscribed
    private bool _coherenceUnavailable;

    /// <summary>
    /// Another instance changed a key, or Redis reported a change: the key, and whether this instance's copy of it was in use
    /// (then the cache may fetch the new value ahead of need).
    /// </summary>
    public event Action<string, bool>? Invalidated;

    /// <summary>Counts the acknowledgements of this instance's writes.</summary>
    public AckTracker Acks { get; } = new();

    /// <summary>True while invalidations are heard and L1 is served.</summary>
    public bool IsSubscribed => l1.ServingEpoch != 0;

    /// <summary>True when the bus found that this deployment cannot be kept coherent: L1 stays off for good.</summary>
    public bool IsCoherenceUnavailable => Volatile.Read(ref _coherenceUnavailable);

    /// <summary>How long the subscription has not been live (since start-up, or since it was lost); null while it is.</summary>
    public TimeSpan? UnsubscribedFor =>
        Interlocked.Read(ref _unsubscribedSince) is var since && since != 0 && !IsSubscribed ? time.GetElapsedTime(since) : null;

    /// <summary>Forgets the revocations older than a second (<paramref name="now"/> on the L1 clock).</summary>
    public void ForgetOldRevocations(long now)
    {
        foreach (var (key, at) in _revokedWhileHot)
        {
            if (now - at > TimeSpan.TicksPerSecond)
            {
                _ = _revokedWhileHot.TryRemove(KeyValuePair.Create(key, at));
            }
        }
    }

    void IInvalidationListener.OnMessage(in ParsedMessage message)
    {
        switch (message.Kind)
        {
            case MessageKind.Invalidation when message.Origin != instanceId:
                counters.InvalidationsReceived.Increment();
                var wasHot = l1.Invalidate(message.KeyOrToken, message.Version) | _revokedWhileHot.TryRemove(message.KeyOrToken, out _);

                // A writer's invalidation reaches only the holders: this instance's copy ended, hit or not.
                holding.CopyEnded(L1Store.Hash(message.KeyOrToken), wasHot);

                // The stale copy is gone: the writer may return, at once (fire and forget; a prefetch follows on its own).
                if (message.AckId > 0)
                {
                    bus.PublishAck(message.Origin, message.AckId, message.KeyOrToken);
                }

                Invalidated?.Invoke(message.KeyOrToken, wasHot);
                break;
            case MessageKind.Revoked:
                // Changed by some client: drop the copy, whatever its version, and let no fetch begun before be joined or
                // installed. For a Cachee write, Redis reports this before the writer's own invalidation arrives; that one
                // prefetches (and acknowledges with the read) if the copy dropped here was in use, so that is remembered.
                counters.Revocations.Increment();
                if (l1.Invalidate(message.KeyOrToken, long.MaxValue))
                {
                    _revokedWhileHot[message.KeyOrToken] = l1.Clock.Now();
                }

                Invalidated?.Invoke(message.KeyOrToken, false);
                break;
            case MessageKind.Ack:
                Acks.Acknowledge(message.AckId, message.Origin);
                break;
            case MessageKind.Malformed:
                // Counted each; logged at most once a minute, with how many came since, so a flood cannot flood the logs.
                counters.InvalidationsMalformed.Increment();
                _malformedSinceLogged++;
                if (_lastMalformedLogged is not { } last || time.GetElapsedTime(last) >= MalformedLogInterval)
                {
                    CoordinationLog.MalformedMessage(logger, _malformedSinceLogged);
                    _malformedSinceLogged = 0;
                    _lastMalformedLogged = time.GetTimestamp();
                }

                break;
            default:
                // Our own invalidations, and probes of other instances.
                break;
        }
    }

    void IInvalidationListener.OnAllRevoked()
    {
        // A new epoch drops every copy, and no read begun before can install.
        l1.Suspend();
        var epoch = l1.Resume();
        CoordinationLog.AllRevoked(logger, epoch);
    }

    void IInvalidationListener.OnRevocationUnavailable(string reason) => CoordinationLog.RevocationUnavailable(logger, reason);

    void IInvalidationListener.OnShardLost(Func<string, bool> servedByIt)
    {
        var dropped = l1.Drop(servedByIt);
        CoordinationLog.ShardLost(logger, dropped);
    }

    void IInvalidationListener.OnShardProven() => l1.RejectReadsInFlight();

    void IInvalidationListener.OnSubscriptionLost()
    {
        _ = Interlocked.CompareExchange(ref _unsubscribedSince, time.GetTimestamp(), 0);
        l1.Suspend();
        CoordinationLog.SubscriptionLost(logger);
    }

    void IInvalidationListener.OnCoherenceUnavailable(string reason)
    {
        l1.Suspend();
        Volatile.Write(ref _coherenceUnavailable, true);
        CoordinationLog.CoherenceUnavailable(logger, reason);
    }

    void IInvalidationListener.OnSubscriptionEstablished()
    {
        // A probe went through Redis and came back: Redis answers, so an open circuit breaker may close at once.
        l2.NoteRedisAnswered();
        var epoch = l1.Resume();
        Interlocked.Exchange(ref _unsubscribedSince, 0);
        CoordinationLog.SubscriptionEstablished(logger, epoch);
    }
}
