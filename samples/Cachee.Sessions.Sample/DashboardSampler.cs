using Cachee.Sessions;












/// <summary>
/// Takes this instance's statistics once a second, so that the dashboard's rates (invalidations per second, the mean
/// acknowledgement wait) are over the last second of this server's time, however many pages poll and however often.
/// </summary>
internal sealed class DashboardSampler(TieredDistributedCache cache) : BackgroundService
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(1);
    private volatile LastSecond _lastSecond = new(0, null);

    /// <summary>The rates over the latest whole second sampled.</summary>
    public LastSecond Latest => _lastSecond;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var before = cache.GetStatistics();
        var beforeAt = TimeProvider.System.GetTimestamp();
        using var timer = new PeriodicTimer(Period);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var now = cache.GetStatistics();
            var nowAt = TimeProvider.System.GetTimestamp();
            var seconds = TimeProvider.System.GetElapsedTime(beforeAt, nowAt).TotalSeconds;
            var invalidations = now.InvalidationsSent + now.InvalidationsReceived - before.InvalidationsSent - before.InvalidationsReceived;
            var waits = now.AckWaits - before.AckWaits;
            _lastSecond = new LastSecond(
                invalidations / seconds,
                waits > 0 ? (now.AckWaitTime - before.AckWaitTime).TotalMilliseconds / waits : null);
            (before, beforeAt) = (now, nowAt);
        }
    }

    /// <summary>Invalidations sent and received per second, and the mean acknowledgement wait (null when none waited).</summary>
    internal sealed record LastSecond(double InvalidationsPerSecond, double? AckWaitMilliseconds);
}
