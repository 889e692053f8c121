using Cachee.Sessions.Diagnostics;
using Cachee.Sessions.L1;
using Cachee.Sessions.L2;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.Coordination;

/// <summary>Renews in Redis the sliding entries that were read from L1, pipelined, and gives their copies the new validity.</summary>
internal sealed class RenewalSender(L1Store l1, RenewalRequests renewals, GuardedL2Store l2, CacheeCounters counters, TimeProvider time, ILogger logger)
{
    /// <summary>Sends renewals as hits queue them, until <paramref name="token"/> is cancelled or the queue completes.</summary>
    public async Task RunAsync(CancellationToken token)
    {
        while (await renewals.Reader.WaitToReadAsync(token).ConfigureAwait(false))
        {
            await FlushAsync(token).ConfigureAwait(false);
        }
    }

    /// <summary>Sends every queued renewal now (pipelined) and waits for the replies.</summary>
    public async Task FlushAsync(CancellationToken token)
    {
        var pending = new List<Task>();
        while (renewals.Reader.TryRead(out var due))
        {
            pending.Add(RenewAsync(due.Key, due.Version, token));
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    private async Task RenewAsync(string key, long version, CancellationToken token)
    {
        long? validUntil = null;
        var final = false;
        var sentAt = l1.Clock.Now();
        try
        {
            var utcSentAt = time.GetUtcNow().UtcTicks;
            var renewal = await l2.RefreshAsync(key, version, register: true, utcSentAt, sync: false, token).ConfigureAwait(false);
            counters.L2Refreshes.Increment();
            if (renewal.Status != RenewalStatus.Renewed)
            {
                l1.Remove(key, version);
                return;
            }

            // Redis caps the renewed window by the absolute expiration, so its expiry is the copy's new end, unless the holder
            // registration the renewal made again ends first.
            var ttl = renewal.Ttl;
            var registeredUntil = utcSentAt + HolderRegistry.Lifetime.Ticks;
            var end = ttl.IsNone ? registeredUntil : Math.Min(registeredUntil, utcSentAt + (ttl.Milliseconds * TimeSpan.TicksPerMillisecond));
            validUntil = l1.Clock.ValidUntil(end, utcSentAt, sentAt);
            final = renewal.ReachedAbsoluteExpiration;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The copy stays valid only until the Redis expiry it already knew; the next hit asks for another try.
            CoordinationLog.RefreshFailed(logger, new RedactedKey(key), ex);
        }
        finally
        {
            l1.CompleteRefresh(key, version, validUntil, final);
        }
    }
}
