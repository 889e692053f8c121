using Cachee.Sessions.Invalidation;

namespace Cachee.Sessions.L2;

/// <summary>One instance's view of an <see cref="InMemoryL2Server"/>; completes every call synchronously.</summary>
internal sealed class InMemoryL2Store(InMemoryL2Server server, string origin) : IL2Store
{
    private readonly string _messagePrefix = InvalidationMessage.InvalidationPrefix(origin);

    public ValueTask<L2Entry?> GetAsync(
        string key, bool refreshSliding, long nowTicks, bool sync, CancellationToken token, Acknowledgement? acknowledge = null)
    {
        token.ThrowIfCancellationRequested();
        var entry = server.Get(key, refreshSliding, nowTicks);
        if (acknowledge is { } ack)
        {
            server.Hub.PublishAck(ack.WriterOrigin, InvalidationMessage.FormatAck(ack.AckId, origin));
        }

        return new(entry);
    }

    public ValueTask<L2WriteResult> SetAsync(
        string key, byte[] value, EntryExpiration expiration, long ttlMilliseconds, long ackId, bool sync, CancellationToken token)
    {
        token.ThrowIfCancellationRequested();
        return new(server.Set(key, value, expiration, ttlMilliseconds, _messagePrefix, InvalidationMessage.InvalidationSuffix(ackId, key)));
    }

    public ValueTask<L2WriteResult> RemoveAsync(string key, long ackId, bool sync, CancellationToken token)
    {
        token.ThrowIfCancellationRequested();
        return new(server.Remove(key, _messagePrefix, InvalidationMessage.InvalidationSuffix(ackId, key)));
    }

    public ValueTask<long> RefreshAsync(string key, long expectedVersion, long nowTicks, bool sync, CancellationToken token)
    {
        token.ThrowIfCancellationRequested();
        return new(server.Refresh(key, expectedVersion, nowTicks));
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
