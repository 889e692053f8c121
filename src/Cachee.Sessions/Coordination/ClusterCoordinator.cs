using Cachee.Sessions.Diagnostics;
using Cachee.Sessions.Invalidation;
using Cachee.Sessions.L1;
using Cachee.Sessions.L2;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.Coordination;

/// <summary>
/// The background half of a cache, made of three parts with one job each: the <see cref="InvalidationApplier"/> (the
/// subscription, its epochs, invalidations and revocations), the <see cref="RenewalSender"/> (sliding renewals of L1 hits)
/// and the <see cref="L1Sweeper"/>. It subscribes (retrying with a backoff) and runs the two loops.
/// </summary>
/// <remarks>
/// The hosted service starts it with the host and stops it with the host, so that pending renewals are flushed; if the host
/// never starts it, the cache starts it on first use. Disposal stops it at once, without waiting for Redis.
/// </remarks>
internal sealed class ClusterCoordinator : IDisposable
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);
    private readonly L1Store _l1;
    private readonly RenewalRequests _renewals;
    private readonly IInvalidationBus _bus;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly bool _runLoops;
    private readonly InvalidationApplier _applier;
    private readonly RenewalSender _renewalSender;
    private readonly L1Sweeper _sweeper;
    private readonly CancellationTokenSource _stopping = new();
    private Task _background = Task.CompletedTask;
    private int _started;
    private int _disposed;

    // runLoops is false where a test drives renewals and sweeps itself (FlushRefreshesAsync, SweepExpired).
    internal ClusterCoordinator(
        L1Store l1, HoldingPolicy holding, RenewalRequests renewals, GuardedL2Store l2, IInvalidationBus bus, CacheeCounters counters, TimeProvider time, ILogger logger,
        string instanceId, TimeSpan scanInterval, bool runLoops)
    {
        _l1 = l1;
        _renewals = renewals;
        _bus = bus;
        _time = time;
        _logger = logger;
        _runLoops = runLoops;
        _applier = new InvalidationApplier(l1, holding, l2, bus, counters, time, logger, instanceId);
        _renewalSender = new RenewalSender(l1, renewals, l2, counters, time, logger);
        _sweeper = new L1Sweeper(l1, _applier, scanInterval, time, logger);
    }

    /// <inheritdoc cref="InvalidationApplier.Invalidated"/>
    public event Action<string, bool>? Invalidated
    {
        add => _applier.Invalidated += value;
        remove => _applier.Invalidated -= value;
    }

    /// <inheritdoc cref="InvalidationApplier.IsSubscribed"/>
    public bool IsSubscribed => _applier.IsSubscribed;

    /// <inheritdoc cref="InvalidationApplier.IsCoherenceUnavailable"/>
    public bool IsCoherenceUnavailable => _applier.IsCoherenceUnavailable;

    /// <inheritdoc cref="InvalidationApplier.UnsubscribedFor"/>
    public TimeSpan? UnsubscribedFor => _applier.UnsubscribedFor;

    /// <inheritdoc cref="InvalidationApplier.Acks"/>
    internal AckTracker Acks => _applier.Acks;

    /// <summary>The background upkeep's task: completes once it has stopped (soon after <see cref="Dispose"/>; never faults).</summary>
    internal Task Stopped => _background.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

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

    /// <summary>Starts the subscription and the loops once; cheap to call on every cache operation.</summary>
    internal void EnsureStarted()
    {
        if (Volatile.Read(ref _started) != 0 || Volatile.Read(ref _disposed) != 0 || Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }

        _background = Task.Run(RunAsync);
    }

    /// <inheritdoc cref="RenewalSender.FlushAsync"/>
    internal Task FlushRefreshesAsync(CancellationToken token) => _renewalSender.FlushAsync(token);

    /// <inheritdoc cref="L1Sweeper.Sweep"/>
    internal int SweepExpired() => _sweeper.Sweep();

    private async Task RunAsync()
    {
        var token = _stopping.Token;
        try
        {
            await SubscribeAsync(token).ConfigureAwait(false);
            if (_runLoops)
            {
                await Task.WhenAll(_renewalSender.RunAsync(token), _sweeper.RunAsync(token)).ConfigureAwait(false);
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
                await _bus.StartAsync(_applier, token).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
            {
                CoordinationLog.SubscribeFailed(_logger, delay, ex);
                await Task.Delay(delay, _time, token).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
            }
        }
    }
}
