using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Cachee.Sessions.Threading;

namespace Cachee.Sessions.Invalidation;

/// <summary>
/// Counts the acknowledgements of this instance's writes: a write returns once every instance that heard its invalidation
/// has dropped its copy (or a bounded wait ran out), so that the caller's next request, on any instance, reads the write.
/// Acknowledgement ids are random (63 bits), not a sequence: a client that may publish on the channels but does not read
/// them cannot guess the id of a write in flight, so cannot end its wait early with forged acknowledgements.
/// </summary>
internal sealed class AckTracker
{
    private readonly ConcurrentDictionary<long, Waiter> _waiting = new();

    /// <summary>Starts waiting for acknowledgements of a write about to be sent; dispose the waiter when done.</summary>
    public Waiter Register()
    {
        while (true)
        {
            var waiter = new Waiter(this, RandomId());
            if (_waiting.TryAdd(waiter.Id, waiter))
            {
                return waiter;
            }
        }
    }

    /// <summary>How many writes are waiting for acknowledgements now.</summary>
    internal int Waiting => _waiting.Count;

    private static long RandomId()
    {
        Span<byte> bytes = stackalloc byte[8];
        long id;
        do
        {
            RandomNumberGenerator.Fill(bytes);
            id = BinaryPrimitives.ReadInt64LittleEndian(bytes) & long.MaxValue;
        }
        while (id == 0); // 0 means "no acknowledgement wanted"

        return id;
    }

    /// <summary>Counts the acknowledgement of one instance, once (unknown ids, for waits already over, are ignored).</summary>
    public void Acknowledge(long id, string acker)
    {
        if (_waiting.TryGetValue(id, out var waiter))
        {
            waiter.Count(acker);
        }
    }

    internal sealed class Waiter(AckTracker tracker, long id) : IDisposable
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly HashSet<string> _ackers = new(StringComparer.Ordinal);
        private int _received;
        private int _expected = int.MaxValue;

        public long Id { get; } = id;

        /// <summary>Waits until <paramref name="expected"/> acknowledgements arrived; false when <paramref name="timeout"/> ran out first.</summary>
        public async ValueTask<bool> WaitAsync(int expected, TimeSpan timeout, bool sync)
        {
            Volatile.Write(ref _expected, expected);
            if (Volatile.Read(ref _received) >= expected)
            {
                return true;
            }

            if (sync)
            {
                return BlockingWait.Until(_done.Task, timeout);
            }

            try
            {
                await _done.Task.WaitAsync(timeout).ConfigureAwait(false);
                return true;
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        public void Dispose() => tracker._waiting.TryRemove(Id, out _);

        internal void Count(string acker)
        {
            lock (_ackers)
            {
                // An instance acknowledges once; a forged or repeated acknowledgement must not count twice.
                if (!_ackers.Add(acker))
                {
                    return;
                }
            }

            if (Interlocked.Increment(ref _received) >= Volatile.Read(ref _expected))
            {
                _ = _done.TrySetResult();
            }
        }
    }
}
