using Cachee.Sessions.Diagnostics;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Cachee.Sessions.L2;

/// <summary>
/// Puts bounds around the L2 store: no call waits longer than the operation timeout, repeated failures open a
/// <see cref="CircuitBreaker"/> (the one of the node that serves the key, see <see cref="CircuitBreakers"/>), and every way of not reaching Redis surfaces as one <see cref="CacheUnavailableException"/>.
/// A sync caller calls the inner store synchronously (StackExchange.Redis' own blocking calls, bounded by the connection's
/// SyncTimeout, which is set to the operation timeout), and blocks with the same bound on anything that did not complete
/// synchronously. Blocking calls still hold a thread while they wait, so a burst of them can starve the thread pool into
/// timeouts, as with any blocking Redis client; L1 hits never block.
/// </summary>
internal sealed partial class GuardedL2Store(
    IL2Store inner, TimeSpan timeout, CircuitBreakers breakers, TimeProvider time, CacheeCounters metrics, ILogger logger) : IL2Store
{
    /// <summary>Records that Redis answered outside of this store (the subscription's probe came back): closes an open breaker.</summary>
    public void NoteRedisAnswered()
    {
        if (breakers.AllSucceeded())
        {
            Log.BreakerClosed(logger);
        }
    }

    public bool IsLarge(string key) => inner.IsLarge(key);

    public string? ConnectionProblem => inner.ConnectionProblem;

    public Task CheckAccessAsync(CancellationToken token) => inner.CheckAccessAsync(token);

    public async ValueTask<L2Entry?> GetAsync(
        string key, bool register, bool refreshSliding, long nowTicks, bool sync, CancellationToken token)
    {
        var found = await RunAsync("load", null, key, () => inner.GetAsync(key, register, refreshSliding, nowTicks, sync, token), sync, token).ConfigureAwait(false);
        metrics.L2BytesRead.Add(found?.Data.Length ?? 0);
        return found;
    }

    public async ValueTask<L2WriteResult> SetAsync(
        string key, byte[] value, EntryExpiration expiration, long ttlMilliseconds, long ackId, bool hold, bool sync, CancellationToken token)
    {
        var written = await RunAsync("write", value.Length, key, () => inner.SetAsync(key, value, expiration, ttlMilliseconds, ackId, hold, sync, token), sync, token).ConfigureAwait(false);
        metrics.L2BytesWritten.Add(value.Length);
        return written;
    }

    public ValueTask<L2WriteResult> RemoveAsync(string key, long ackId, bool sync, CancellationToken token) =>
        RunAsync("remove", null, key, () => inner.RemoveAsync(key, ackId, sync, token), sync, token);

    public ValueTask<Renewal> RefreshAsync(string key, long? expectedVersion, bool register, long nowTicks, bool sync, CancellationToken token) =>
        RunAsync("renew", null, key, () => inner.RefreshAsync(key, expectedVersion, register, nowTicks, sync, token), sync, token);

    public async ValueTask<L2WriteResult?> ReplayAsync(ReplayedWrite write, long ttlMilliseconds, bool sync, CancellationToken token)
    {
        var written = await RunAsync("replay", write.Value.Length, write.Key, () => inner.ReplayAsync(write, ttlMilliseconds, sync, token), sync, token).ConfigureAwait(false);
        metrics.L2BytesWritten.Add(written is null ? 0 : write.Value.Length);
        return written;
    }

    public async ValueTask<L2WriteResult[]?> WriteManyAsync(IReadOnlyList<KeyChange> changes, VersionGuard? guard, long ackId, bool sync, CancellationToken token)
    {
        var bytes = changes.Sum(change => (long)(change.Value?.Length ?? 0));
        var written = await RunAsync("write", bytes, changes[0].Key, () => inner.WriteManyAsync(changes, guard, ackId, sync, token), sync, token).ConfigureAwait(false);
        metrics.L2BytesWritten.Add(written is null ? 0 : bytes);
        return written;
    }

    /// <summary>
    /// True for the failures that mean "Redis could not be asked", as opposed to an answer (even an error). Besides timeouts
    /// and connection failures this includes the I/O and state errors StackExchange.Redis may raise while a connection is
    /// torn down under a call.
    /// </summary>
    internal static bool IsUnavailability(Exception exception) => exception switch
    {
        CacheUnavailableException or TimeoutException or RedisConnectionException or System.IO.IOException => true,
        InvalidOperationException when exception is not ObjectDisposedException => true,
        RedisServerException server => server.Message.StartsWith("LOADING", StringComparison.Ordinal)
            || server.Message.StartsWith("BUSY", StringComparison.Ordinal)
            || server.Message.StartsWith("MASTERDOWN", StringComparison.Ordinal)
            || server.Message.StartsWith("READONLY", StringComparison.Ordinal)
            || server.Message.StartsWith("CLUSTERDOWN", StringComparison.Ordinal)
            || server.Message.StartsWith("TRYAGAIN", StringComparison.Ordinal)
            || server.Message.StartsWith("MOVED", StringComparison.Ordinal)
            || server.Message.Contains("has MOVED", StringComparison.Ordinal), // the slot moved (a failover): not run
        _ => false,
    };

    private static string Explained(string problem) => $" Cachee cannot connect: {problem}.";

    // The operation under its span (see CacheeActivities), when something listens; else just guarded.
    private ValueTask<T> RunAsync<T>(string name, long? bytes, string key, Func<ValueTask<T>> operation, bool sync, CancellationToken token)
    {
        var activity = Diagnostics.CacheeActivities.Start(name, bytes);
        return activity is null ? GuardAsync(key, operation, sync, token) : TracedAsync(activity, key, operation, sync, token);
    }

    private async ValueTask<T> TracedAsync<T>(System.Diagnostics.Activity activity, string key, Func<ValueTask<T>> operation, bool sync, CancellationToken token)
    {
        using (activity)
        {
            try
            {
                var result = await GuardAsync(key, operation, sync, token).ConfigureAwait(false);
                Completed(activity, result);
                return result;
            }
            catch (Exception ex)
            {
                Diagnostics.CacheeActivities.Failed(activity, ex);
                throw;
            }
        }
    }

    // Tags an operation's span with what Redis answered.
    private static void Completed(System.Diagnostics.Activity activity, object? result)
    {
        if (!activity.IsAllDataRequested)
        {
            return;
        }

        switch (result)
        {
            case L2Entry entry:
                _ = activity.SetTag("cachee.hit", true).SetTag("cachee.version", entry.Version).SetTag("cachee.bytes", entry.Data.Length);
                break;
            case null when activity.GetTagItem("db.operation.name") is "load":
                _ = activity.SetTag("cachee.hit", false);
                break;
            case null when activity.GetTagItem("db.operation.name") is "replay":
                _ = activity.SetTag("cachee.replay.applied", false);
                break;
            case L2WriteResult written:
                _ = activity.SetTag("cachee.version", written.Version).SetTag("cachee.holders_notified", written.Receivers);
                if (activity.GetTagItem("db.operation.name") is "replay")
                {
                    _ = activity.SetTag("cachee.replay.applied", true);
                }

                break;
            case L2WriteResult[] changes:
                _ = activity.SetTag("cachee.keys", changes.Length).SetTag("cachee.holders_notified", changes.Sum(change => change.Receivers));
                break;
            case Renewal renewal:
                _ = activity.SetTag("cachee.renewal", renewal.Status.ToString());
                break;
        }
    }

    private async ValueTask<T> GuardAsync<T>(string key, Func<ValueTask<T>> operation, bool sync, CancellationToken token)
    {
        var breaker = breakers.For(key);
        try
        {
            breaker.Enter();
        }
        catch (CacheUnavailableException ex) when (inner.ConnectionProblem is { } problem)
        {
            throw new CacheUnavailableException(ex.Message + Explained(problem), ex);
        }

        try
        {
            var pending = operation();
            T result;
            if (pending.IsCompleted)
            {
                // The usual case for blocking calls: no task to allocate.
                result = await pending.ConfigureAwait(false);
            }
            else
            {
                // An abandoned call may still fail later; observe it so that it is not reported as unobserved.
                var task = pending.AsTask();
                _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                result = sync ? WaitBlocking(task, token) : await WaitAsync(task, token).ConfigureAwait(false);
            }

            Answered(breaker);
            return result;
        }
        catch (ReplicasNotConfirmedException ex)
        {
            // The master answered: reads it can serve must not be refused by an opened breaker.
            Answered(breaker);
            metrics.L2Failures.Increment();
            throw new CacheUnavailableException($"The write was not confirmed by enough replicas: {ex.Message}", ex);
        }
        catch (Exception ex) when (IsUnavailability(ex) || (ex is OperationCanceledException && !token.IsCancellationRequested))
        {
            // (A cancellation the caller did not ask for: StackExchange.Redis cancels the calls of a connection it recycles.)
            metrics.L2Failures.Increment();
            if (breaker.Failed())
            {
                breakers.Opened();
                metrics.BreakerOpenings.Increment();
                Log.BreakerOpened(logger, timeout, ex);
            }

            var problem = inner.ConnectionProblem is { } known ? Explained(known) : string.Empty;
            throw ex is CacheUnavailableException unavailable
                ? (problem.Length == 0 ? unavailable : new CacheUnavailableException(unavailable.Message + problem, unavailable))
                : new CacheUnavailableException($"Redis could not be reached within {timeout}: {ex.Message}{problem}", ex);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The caller gave up: neither an answer nor a failure. If this call was the breaker's probe, another may go.
            breaker.Abandoned();
            throw;
        }
        catch
        {
            // Redis answered, with an error: it is reachable (and a probe that got this answer must not leave the breaker
            // waiting for its outcome forever).
            Answered(breaker);
            throw;
        }
    }

    private void Answered(CircuitBreaker breaker)
    {
        if (breaker.Succeeded())
        {
            Log.BreakerClosed(logger);
        }
    }

    // A reply that StackExchange.Redis had already read when the wait timed out counts: only its continuation was late (a busy
    // thread pool). Reporting a write that Redis applied as failed would be a lie; reporting it applied is always true.
    private async Task<T> WaitAsync<T>(Task<T> task, CancellationToken token)
    {
        try
        {
            return await task.WaitAsync(timeout, time, token).ConfigureAwait(false);
        }
        catch (TimeoutException) when (task.IsCompletedSuccessfully)
        {
            return task.Result;
        }
    }

    private T WaitBlocking<T>(Task<T> task, CancellationToken token)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, token);
        try
        {
            task.Wait(either.Token);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !task.IsCompletedSuccessfully)
        {
            throw new TimeoutException($"Redis did not answer within {timeout}.");
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            // Answered as the deadline passed (see WaitAsync): the answer stands.
        }
        catch (AggregateException)
        {
            // The task's own failure is rethrown, unwrapped, below.
        }

        return task.GetAwaiter().GetResult();
    }

    private static partial class Log
    {
        [LoggerMessage(200, LogLevel.Warning, "Cachee: Redis failed repeatedly (last call: no answer within {Timeout} or no connection); the circuit breaker is open and calls fail at once until a probe succeeds.", EventName = "BreakerOpened")]
        public static partial void BreakerOpened(ILogger logger, TimeSpan timeout, Exception exception);

        [LoggerMessage(201, LogLevel.Information, "Cachee: Redis answers again; the circuit breaker is closed.", EventName = "BreakerClosed")]
        public static partial void BreakerClosed(ILogger logger);
    }
}
