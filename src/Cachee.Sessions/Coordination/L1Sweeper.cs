using Cachee.Sessions.L1;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.Coordination;

/// <summary>Removes expired copies from L1 every scan interval, and forgets old revocations.</summary>
internal sealed class L1Sweeper(L1Store l1, InvalidationApplier applier, TimeSpan scanInterval, TimeProvider time, ILogger logger)
{
    /// <summary>Sweeps every scan interval until <paramref name="token"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken token)
    {
        using var timer = new PeriodicTimer(scanInterval, time);
        while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
        {
            _ = Sweep();
        }
    }

    /// <summary>Removes expired entries from L1 now; returns how many.</summary>
    public int Sweep()
    {
        var now = l1.Clock.Now();
        applier.ForgetOldRevocations(now);
        var removed = l1.RemoveExpired(now);
        if (removed > 0)
        {
            CoordinationLog.Swept(logger, removed);
        }

        return removed;
    }
}
