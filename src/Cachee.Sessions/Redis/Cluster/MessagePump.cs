using System.Collections.Concurrent;
using System.Threading.Channels;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis.Cluster;

/// <summary>
/// Runs an instance's subscription loops (its inboxes, tracking reports) on a thread of their own, so that an invalidation
/// or an acknowledgement is handled as soon as it arrives, never after the work queued on a busy thread pool. Each loop
/// awaits its queue with this pump as the synchronization context: StackExchange.Redis' channel then posts the next message
/// straight here. Loops run one message at a time, each in its channel's order; handlers must not block.
/// </summary>
internal sealed class MessagePump(string name) : SynchronizationContext, IDisposable
{
    private readonly BlockingCollection<(SendOrPostCallback Callback, object? State)> _work = new();
    private readonly Lock _gate = new();
    private Thread? _thread;

    /// <summary>Handles every message of <paramref name="queue"/> with <paramref name="handler"/> on this pump's thread, until the queue is unsubscribed.</summary>
    public void Consume(ChannelMessageQueue queue, Action<RedisValue> handler)
    {
        lock (_gate)
        {
            if (_thread is null && !_work.IsAddingCompleted)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = name };
                _thread.Start();
            }
        }

        Post(static state => _ = LoopAsync(((ChannelMessageQueue, Action<RedisValue>))state!), (queue, handler));
    }

    public override void Post(SendOrPostCallback d, object? state)
    {
        try
        {
            _work.Add((d, state));
        }
        catch (InvalidOperationException)
        {
            // Disposed: the subscriptions are ending.
        }
    }

    public override void Send(SendOrPostCallback d, object? state) => throw new NotSupportedException("The message pump runs work asynchronously only.");

    public override SynchronizationContext CreateCopy() => this;

    public void Dispose() => _work.CompleteAdding();

    private static async Task LoopAsync((ChannelMessageQueue Queue, Action<RedisValue> Handler) loop)
    {
        while (true)
        {
            ChannelMessage message;
            try
            {
                // Resumes on the pump's thread: the channel posts its continuation to this context.
                message = await loop.Queue.ReadAsync().ConfigureAwait(true);
            }
            catch (Exception ex) when (ex is ChannelClosedException or OperationCanceledException)
            {
                return; // unsubscribed
            }

            try
            {
                loop.Handler(message.Message);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // A handler's failure must not stop the loop: the next message is handled as usual.
            }
        }
    }

    private void Run()
    {
        SetSynchronizationContext(this);
        foreach (var (callback, state) in _work.GetConsumingEnumerable())
        {
            callback(state);
        }
    }
}
