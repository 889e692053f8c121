using Cachee.Sessions.Diagnostics;
using Cachee.Sessions.Hosting;
using Cachee.Sessions.Invalidation;
using Cachee.Sessions.L1;
using Cachee.Sessions.L2;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.Coordination;

/// <summary>
/// The background half of a <see cref="TieredDistributedCache"/>: owns the invalidation subscription (L1 is served only
/// while it is proven live, and starts a new epoch after every gap), renews in Redis the sliding entries that were read
/// from L1, and sweeps expired entries out of L1.
/// The hosted service (<c>CacheeHostedService</c>) starts it with the host, so that the subscription is made at start-up,
/// and stops it with the host, so that pending renewals are flushed; if the host never starts it, the cache starts it on first
/// use. Disposal (by its cache only) stops it at once, without waiting for Redis.
/// </summary>
internal sealed partial class ClusterCoordinator : IInvalidationListener, IDisposable
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MalformedLogInterval = TimeSpan.FromMinutes(1);
    private long? _lastMalformedLogged; // messages are delivered one at a time (IInvalidationListener): no lock needed
    private long _malformedSinceLogged;
    private long _unsubscribedSince; // timestamp; 0 while subscribed
    private readonly L1Store _l1;
    private readonly GuardedL2Store _l2;
    private readonly IInvalidationBus _bus;
    private readonly CacheeCounters _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _instanceId;
    private readonly TimeSpan _scanInterval;
    private readonly bool _runLoops;
    private readonly RenewalRequests _renewals;

    // Keys whose copy, in use here, was revoked by Redis' tracking, with when (L1 clock): the writer's invalidation that
    // usually follows at once prefetches them. Forgotten by the sweep after a second (a change by another client has no
    // such follower); at most one per copy L1 held.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _revokedWhileHot = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private Task _background = Task.CompletedTask;
    private int _started;
    private int _disposed;
    private bool _coherenceUnavailable;

    internal ClusterCoordinator(
        L1Store l1, RenewalRequests renewals, GuardedL2Store l2, IInvalidationBus bus, CacheeCounters metrics, TimeProvider time, ILogger logger,
        string instanceId, TimeSpan scanInterval, bool runLoops)
    {
        _renewals = renewals;
        _l1 = l1;
        _l2 = l2;
        _bus = bus;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _instanceId = instanceId;
        _scanInterval = scanInterval;
        _runLoops = runLoops;
        _unsubscribedSince = time.GetTimestamp();
    }

    /// <summary>
    /// Another instance changed a key, or Redis reported a change: the key, and whether this instance's copy of it was in use
    /// (then the cache may fetch the new value ahead of need).
    /// </summary>
    public event Action<string, bool>? Invalidated;

    /// <summary>True while invalidations are heard and L1 is served.</summary>
    public bool IsSubscribed => _l1.ServingEpoch != 0;

    /// <summary>
    /// True when the bus found that this deployment cannot be kept coherent (a Redis Cluster before 7.0): L1 stays off for good
    /// and writes wait for no acknowledgement (no instance holds a copy).
    /// </summary>
    public bool IsCoherenceUnavailable => Volatile.Read(ref _coherenceUnavailable);

    /// <summary>Makes the subscription and starts the background upkeep, without waiting for Redis.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        EnsureStarted();
        return Task.CompletedTask;
    }

    /// <summary>Stops the background upkeep and sends the sliding renewals still pending, within <paramref name="cancellationToken"/>.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _started) == 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _background.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Shutdown deadline reached; pending renewals are flushed below as far as time allows.
        }

        try
        {
            await FlushRefreshesAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutdown deadline reached: the renewals not sent are left to the entries' windows.
        }
    }

    /// <summary>Stops the background upkeep and the subscription at once, without waiting for Redis.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _l1.Suspend(); // no longer hears invalidations: nothing more is served from L1
        _stopping.Cancel();
        _renewals.Complete();
        _bus.Dispose();
    }

    /// <summary>The background upkeep's task: completes once it has stopped (soon after <see cref="Dispose"/>; never faults).</summary>
    internal Task Stopped => _background.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>Starts the subscription and the loops once; cheap to call on every cache operation.</summary>
    internal void EnsureStarted()
    {
        if (Volatile.Read(ref _started) != 0 || Volatile.Read(ref _disposed) != 0 || Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }

        _background = Task.Run(RunAsync);
    }

    /// <summary>Sends every queued renewal now (pipelined) and waits for the replies.</summary>
    internal async Task FlushRefreshesAsync(CancellationToken token)
    {
        var pending = new List<Task>();
        while (_renewals.Reader.TryRead(out var due))
        {
            pending.Add(RefreshAsync(due.Key, due.Version, token));
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    /// <summary>Removes expired entries from L1 now.</summary>
    internal int SweepExpired()
    {
        var now = _l1.Clock.Now();
        foreach (var (key, at) in _revokedWhileHot)
        {
            if (now - at > TimeSpan.TicksPerSecond)
            {
                _ = _revokedWhileHot.TryRemove(KeyValuePair.Create(key, at));
            }
        }

        var removed = _l1.RemoveExpired(now);
        if (removed > 0)
        {
            Log.Swept(_logger, removed);
        }

        return removed;
    }

    private async Task RunAsync()
    {
        var token = _stopping.Token;
        try
        {
            await SubscribeAsync(token).ConfigureAwait(false);
            if (_runLoops)
            {
                await Task.WhenAll(RefreshLoopAsync(token), SweepLoopAsync(token)).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Stopped.
        }
    }

    private async Task SubscribeAsync(CancellationToken token)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                await _bus.StartAsync(this, token).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
            {
                Log.SubscribeFailed(_logger, delay, ex);
                await Task.Delay(delay, _time, token).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
            }
        }
    }

    private async Task RefreshLoopAsync(CancellationToken token)
    {
        while (await _renewals.Reader.WaitToReadAsync(token).ConfigureAwait(false))
        {
            await FlushRefreshesAsync(token).ConfigureAwait(false);
        }
    }

    private async Task SweepLoopAsync(CancellationToken token)
    {
        using var timer = new PeriodicTimer(_scanInterval, _time);
        while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
        {
            _ = SweepExpired();
        }
    }

    private async Task RefreshAsync(string key, long version, CancellationToken token)
    {
        long? validUntil = null;
        var final = false;
        var sentAt = _l1.Clock.Now();
        try
        {
            var utcSentAt = _time.GetUtcNow().UtcTicks;
            var renewal = await _l2.RefreshAsync(key, version, register: true, utcSentAt, sync: false, token).ConfigureAwait(false);
            _metrics.L2Refreshes.Increment();
            if (renewal.Status != RenewalStatus.Renewed)
            {
                _l1.Remove(key, version);
                return;
            }

            // Redis caps the renewed window by the absolute expiration, so its expiry is the copy's new end, unless the holder
            // registration the renewal made again ends first.
            var ttl = renewal.Ttl;
            var registeredUntil = utcSentAt + HolderRegistry.Lifetime.Ticks;
            var end = ttl.IsNone ? registeredUntil : Math.Min(registeredUntil, utcSentAt + (ttl.Milliseconds * TimeSpan.TicksPerMillisecond));
            validUntil = _l1.Clock.ValidUntil(end, utcSentAt, sentAt);
            final = renewal.ReachedAbsoluteExpiration;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The copy stays valid only until the Redis expiry it already knew; the next hit asks for another try.
            Log.RefreshFailed(_logger, new RedactedKey(key), ex);
        }
        finally
        {
            _l1.CompleteRefresh(key, version, validUntil, final);
        }
    }

    /// <summary>Counts the acknowledgements of this instance's writes.</summary>
    internal AckTracker Acks { get; } = new();

    void IInvalidationListener.OnMessage(in ParsedMessage message)
    {
        switch (message.Kind)
        {
            case MessageKind.Invalidation when message.Origin != _instanceId:
                _metrics.InvalidationsReceived.Increment();
                var wasHot = _l1.Invalidate(message.KeyOrToken, message.Version) | _revokedWhileHot.TryRemove(message.KeyOrToken, out _);

                // The stale copy is gone: the writer may return, at once (fire and forget; a prefetch follows on its own).
                if (message.AckId > 0)
                {
                    _bus.PublishAck(message.Origin, message.AckId, message.KeyOrToken);
                }

                Invalidated?.Invoke(message.KeyOrToken, wasHot);

                break;
            case MessageKind.Revoked:
                // Changed by some client: drop the copy, whatever its version, and let no fetch begun before be joined or
                // installed. For a Cachee write, Redis reports this before the writer's own invalidation arrives; that one
                // prefetches (and acknowledges with the read) if the copy dropped here was in use, so that is remembered.
                _metrics.Revocations.Increment();
                if (_l1.Invalidate(message.KeyOrToken, long.MaxValue))
                {
                    _revokedWhileHot[message.KeyOrToken] = _l1.Clock.Now();
                }

                Invalidated?.Invoke(message.KeyOrToken, false);
                break;
            case MessageKind.Ack:
                Acks.Acknowledge(message.AckId, message.Origin);
                break;
            case MessageKind.Malformed:
                // Counted each; logged at most once a minute, with how many came since, so a flood cannot flood the logs.
                _metrics.InvalidationsMalformed.Increment();
                _malformedSinceLogged++;
                if (_lastMalformedLogged is not { } last || _time.GetElapsedTime(last) >= MalformedLogInterval)
                {
                    Log.MalformedMessage(_logger, _malformedSinceLogged);
                    _malformedSinceLogged = 0;
                    _lastMalformedLogged = _time.GetTimestamp();
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
        _l1.Suspend();
        var epoch = _l1.Resume();
        Log.AllRevoked(_logger, epoch);
    }

    void IInvalidationListener.OnRevocationUnavailable(string reason) => Log.RevocationUnavailable(_logger, reason);

    void IInvalidationListener.OnShardLost(Func<string, bool> servedByIt)
    {
        var dropped = _l1.Drop(servedByIt);
        Log.ShardLost(_logger, dropped);
    }

    void IInvalidationListener.OnShardProven() => _l1.RejectReadsInFlight();

    /// <summary>How long the subscription has not been live (since start-up, or since it was lost); null while it is.</summary>
    public TimeSpan? UnsubscribedFor =>
        Interlocked.Read(ref _unsubscribedSince) is var since && since != 0 && !IsSubscribed ? _time.GetElapsedTime(since) : null;

    void IInvalidationListener.OnSubscriptionLost()
    {
        _ = Interlocked.CompareExchange(ref _unsubscribedSince, _time.GetTimestamp(), 0);
        _l1.Suspend();
        Log.SubscriptionLost(_logger);
    }

    void IInvalidationListener.OnCoherenceUnavailable(string reason)
    {
        _l1.Suspend();
        Volatile.Write(ref _coherenceUnavailable, true);
        Log.CoherenceUnavailable(_logger, reason);
    }

    void IInvalidationListener.OnSubscriptionEstablished()
    {
        // A probe went through Redis and came back: Redis answers, so an open circuit breaker may close at once.
        _l2.NoteRedisAnswered();
        var epoch = _l1.Resume();
        Interlocked.Exchange(ref _unsubscribedSince, 0);
        Log.SubscriptionEstablished(_logger, epoch);
    }
}
