using Cachee.Sessions.Invalidation;
using Cachee.Sessions.L2;


namespace Cachee.Sessions.Testing;

/// <summary>
/// One instance's view of an <see cref="InMemoryRedis"/>; completes every call synchronously unless the server is paused
/// (then every call waits for the pause to end, as calls to a stopped Redis do).
/// </summary>
internal sealed class InMemoryL2Store(InMemoryRedis server, string origin) : IL2Store
{
    private readonly string _messagePrefix = InvalidationMessage.InvalidationPrefix(origin);

    public ValueTask<L2Entry?> GetAsync(
        string key, bool register, bool refreshSliding, long nowTicks, bool sync, CancellationToken token) =>
        RunAsync(() => server.Get(key, origin, register, refreshSliding, nowTicks), token);

    public ValueTask<L2WriteResult> SetAsync(
        string key, byte[] value, EntryExpiration expiration, long ttlMilliseconds, long ackId, bool hold, bool sync, CancellationToken token) =>
        RunAsync(() => server.Set(key, value, expiration, ttlMilliseconds, origin, _messagePrefix, InvalidationMessage.InvalidationSuffix(ackId, key), hold), token);

    public ValueTask<L2WriteResult> RemoveAsync(string key, long ackId, bool sync, CancellationToken token) =>
        RunAsync(() => server.Remove(key, origin, _messagePrefix, InvalidationMessage.InvalidationSuffix(ackId, key)), token);

    public ValueTask<L2WriteResult?> ReplayAsync(ReplayedWrite write, long ttlMilliseconds, bool sync, CancellationToken token) =>
        RunAsync(() => server.Replay(
            write.Key, write.BaseVersion, write.Value, write.Expiration, ttlMilliseconds, origin, _messagePrefix,
            InvalidationMessage.InvalidationSuffix(0, write.Key)), token);

    public ValueTask<L2WriteResult[]?> WriteManyAsync(IReadOnlyList<KeyChange> changes, VersionGuard? guard, long ackId, bool sync, CancellationToken token) =>
        RunAsync(() => server.WriteMany(changes, guard, origin, _messagePrefix, key => InvalidationMessage.InvalidationSuffix(ackId, key)), token);

    public ValueTask<Renewal> RefreshAsync(string key, long? expectedVersion, bool register, long nowTicks, bool sync, CancellationToken token) =>
        RunAsync(() => server.Refresh(key, expectedVersion, register ? origin : null, nowTicks), token);

    private ValueTask<T> RunAsync<T>(Func<T> command, CancellationToken token)
    {
        token.ThrowIfCancellationRequested();
        return server.Pause is { IsCompleted: false } pause ? new(RunAfterAsync(pause, command)) : new(command());
    }

    private static async Task<T> RunAfterAsync<T>(Task pause, Func<T> command)
    {
        await pause.ConfigureAwait(false);
        return command();
    }
}
