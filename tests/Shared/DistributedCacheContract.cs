using System.Buffers;
using System.Text;
using Microsoft.Extensions.Caching.Distributed;
using Xunit;

namespace Cachee.Sessions.TestSupport;

/// <summary>
/// The IDistributedCache contract, as Microsoft's RedisCache keeps it, in both sync and async forms: written once, run over
/// the in-memory model and over a real <c>redis-server</c>.
/// </summary>
public abstract class DistributedCacheContract : IAsyncLifetime
{
    private TieredDistributedCache _cache = null!;

    public virtual async Task InitializeAsync() => _cache = await StartCacheAsync();

    public abstract Task DisposeAsync();

    /// <summary>Starts another instance of the same fleet, its subscription live.</summary>
    protected abstract Task<TieredDistributedCache> StartCacheAsync();

    /// <summary>Now, on the clock the caches use.</summary>
    protected abstract DateTimeOffset Now { get; }

    // No call to Redis: nothing was read from it or written to it.
    private static bool NothingReachedRedis(TieredDistributedCache cache) =>
        cache.GetStatistics() is { L2Hits: 0, L2Misses: 0, L2Failures: 0, InvalidationsSent: 0 };

    private static DistributedCacheEntryOptions NoExpiry => new();

    [Fact]
    public async Task Get_MissingKey_ReturnsNull()
    {
        Assert.Null(_cache.Get("absent"));
        Assert.Null(await _cache.GetAsync("absent"));
    }

    [Fact]
    public async Task TryGet_MissingKey_ReturnsFalseAndWritesNothing()
    {
        var writer = new ArrayBufferWriter<byte>();
        Assert.False(_cache.TryGet("absent", writer));
        Assert.False(await _cache.TryGetAsync("absent", writer));
        Assert.Equal(0, writer.WrittenCount);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1024)]
    [InlineData(3 * 1024 * 1024)]
    public async Task SetThenGet_RoundTripsEveryLength(int length)
    {
        var value = new byte[length];
        Random.Shared.NextBytes(value);
        _cache.Set("sync", value, NoExpiry);
        await _cache.SetAsync("async", value, NoExpiry);

        Assert.Equal(value, _cache.Get("sync"));
        Assert.Equal(value, await _cache.GetAsync("async"));
        var writer = new ArrayBufferWriter<byte>();
        Assert.True(await _cache.TryGetAsync("sync", writer));
        Assert.Equal(value, writer.WrittenSpan.ToArray());
    }

    [Fact]
    public async Task SetFromSequence_RoundTripsMultiSegmentValue()
    {
        var first = new Segment(Encoding.UTF8.GetBytes("hello "));
        var last = first.Append(Encoding.UTF8.GetBytes("world"));
        _cache.Set("seq-sync", new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length), NoExpiry);
        await _cache.SetAsync("seq-async", new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length), NoExpiry);

        Assert.Equal("hello world", Encoding.UTF8.GetString(_cache.Get("seq-sync")!));
        Assert.Equal("hello world", Encoding.UTF8.GetString((await _cache.GetAsync("seq-async"))!));
    }

    [Fact]
    public async Task Keys_AreCaseSensitive()
    {
        await _cache.SetAsync("Key", [1], NoExpiry);
        await _cache.SetAsync("key", [2], NoExpiry);
        Assert.Equal([1], await _cache.GetAsync("Key"));
        Assert.Equal([2], await _cache.GetAsync("key"));
        Assert.Null(await _cache.GetAsync("KEY"));
    }

    [Fact]
    public async Task Set_Overwrites()
    {
        _cache.Set("k", [1], NoExpiry);
        Assert.Equal([1], _cache.Get("k"));
        await _cache.SetAsync("k", [2, 2], NoExpiry);
        Assert.Equal([2, 2], _cache.Get("k"));
    }

    [Fact]
    public async Task Remove_DeletesFromBothTiers()
    {
        _cache.Set("a", [1], NoExpiry);
        await _cache.SetAsync("b", [2], NoExpiry);
        Assert.NotNull(_cache.Get("a"));
        _cache.Remove("a");
        await _cache.RemoveAsync("b");
        Assert.Null(_cache.Get("a"));
        Assert.Null(await _cache.GetAsync("b"));
        var other = await StartCacheAsync();
        Assert.Null(await other.GetAsync("a"));
    }

    [Fact]
    public async Task Remove_MissingKey_IsNoOp()
    {
        await _cache.RemoveAsync("never-set");
        Assert.Null(await _cache.GetAsync("never-set"));
    }

    [Fact]
    public async Task NullArguments_Throw()
    {
        var options = NoExpiry;
        var writer = new ArrayBufferWriter<byte>();
        Assert.Throws<ArgumentNullException>(() => _cache.Get(null!));
        await Assert.ThrowsAsync<ArgumentNullException>(() => _cache.GetAsync(null!));
        Assert.Throws<ArgumentNullException>(() => _cache.TryGet(null!, writer));
        Assert.Throws<ArgumentNullException>(() => _cache.TryGet("k", null!));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await _cache.TryGetAsync(null!, writer));
        Assert.Throws<ArgumentNullException>(() => _cache.Set(null!, [1], options));
        Assert.Throws<ArgumentNullException>(() => _cache.Set("k", null!, options));
        Assert.Throws<ArgumentNullException>(() => _cache.Set("k", [1], null!));
        await Assert.ThrowsAsync<ArgumentNullException>(() => _cache.SetAsync(null!, [1], options));
        await Assert.ThrowsAsync<ArgumentNullException>(() => _cache.SetAsync("k", null!, options));
        await Assert.ThrowsAsync<ArgumentNullException>(() => _cache.SetAsync("k", [1], null!));
        Assert.Throws<ArgumentNullException>(() => _cache.Refresh(null!));
        await Assert.ThrowsAsync<ArgumentNullException>(() => _cache.RefreshAsync(null!));
        Assert.Throws<ArgumentNullException>(() => _cache.Remove(null!));
        await Assert.ThrowsAsync<ArgumentNullException>(() => _cache.RemoveAsync(null!));
        Assert.True(NothingReachedRedis(_cache));
    }

    [Fact]
    public async Task AbsoluteExpirationInThePast_ThrowsAndWritesNothing()
    {
        var past = new DistributedCacheEntryOptions { AbsoluteExpiration = Now.AddSeconds(-1) };
        var now = new DistributedCacheEntryOptions { AbsoluteExpiration = Now };
        Assert.Throws<ArgumentOutOfRangeException>(() => _cache.Set("k", [1], past));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _cache.SetAsync("k", [1], now));
        Assert.Null(await _cache.GetAsync("k"));
    }

    [Fact]
    public async Task CanceledToken_ThrowsBeforeAnyWork()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _cache.GetAsync("k", cts.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _cache.SetAsync("k", [1], NoExpiry, cts.Token));
        Assert.True(NothingReachedRedis(_cache));
    }

    [Fact]
    public async Task Get_OnL1Hit_ReturnsStoredArrayWithoutL2Command()
    {
        await _cache.SetAsync("k", [7], NoExpiry);
        var first = _cache.Get("k");
        var second = await _cache.GetAsync("k");
        Assert.Same(first, second);
        Assert.Equal(2, _cache.GetStatistics().L1Hits);
        Assert.Equal(0, _cache.GetStatistics().L2Hits + _cache.GetStatistics().L2Misses);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] bytes) => Memory = bytes;

        public Segment Append(byte[] bytes)
        {
            var next = new Segment(bytes) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
