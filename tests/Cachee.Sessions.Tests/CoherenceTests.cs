using Cachee.Sessions.L1;
using Cachee.Sessions.Testing;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Tests;

/// <summary>Invalidations keep every instance's L1 coherent with Redis.</summary>
public sealed class CoherenceTests : IAsyncLifetime
{
    private readonly CacheeTestFleet _fleet = new();
    private TieredDistributedCache _a = null!;
    private TieredDistributedCache _b = null!;

    public async Task InitializeAsync()
    {
        _a = await _fleet.AddInstanceAsync();
        _b = await _fleet.AddInstanceAsync();
    }

    public async Task DisposeAsync() => await _fleet.DisposeAsync();

    [Fact]
    public async Task WriteOnA_IsSeenOnB_WhichHadTheOldValueInL1()
    {
        await _a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await _b.GetAsync("k"));
        Assert.Equal([1], await _b.GetAsync("k"));
        Assert.Equal(1, _b.GetStatistics().L1Hits);

        await _a.SetAsync("k", [2], new DistributedCacheEntryOptions());
        Assert.Equal([2], await _b.GetAsync("k"));
        // Only the write after b read the key reached b (b was not a holder of version 1 when it was written).
        Assert.Equal(1, _b.GetStatistics().InvalidationsReceived);
    }

    [Fact]
    public async Task RemoveOnA_IsSeenOnB()
    {
        await _a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.NotNull(await _b.GetAsync("k"));
        await _a.RemoveAsync("k");
        Assert.Null(await _b.GetAsync("k"));
    }

    [Fact]
    public async Task OwnInvalidations_AreIgnored()
    {
        await _a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await _a.GetAsync("k"));
        var stats = _a.GetStatistics();
        Assert.Equal(1, stats.L1Hits);
        Assert.Equal(0, stats.InvalidationsReceived);
        Assert.Equal(1, stats.InvalidationsSent);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("hello")]
    [InlineData("i1|")]
    [InlineData("i1|origin")]
    [InlineData("i1|origin|notanumber|0|k")]
    [InlineData("i1|origin|-5|0|k")]
    [InlineData("i1|origin|5|k")]
    [InlineData("i1||5|0|k")]
    [InlineData("p1|origin|")]
    [InlineData("a1|")]
    [InlineData("a1|x|b")]
    [InlineData("a1|7")]
    public async Task MalformedMessages_AreIgnoredAndCounted(string? message)
    {
        await _a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.NotNull(await _b.GetAsync("k"));
        _fleet.BusOf(_b).Deliver(message);
        Assert.Equal(1, _b.GetStatistics().InvalidationsMalformed);
        Assert.Equal([1], await _b.GetAsync("k"));
        Assert.Equal(1, _b.GetStatistics().L1Hits);
    }

    [Fact]
    public async Task ForgedInvalidation_CanOnlyCauseAMiss()
    {
        await _a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.NotNull(await _b.GetAsync("k"));
        var commands = _fleet.Redis.Commands;
        _fleet.BusOf(_b).Deliver("i1|rogue|999999|0|k");

        // The copy is dropped and Redis is asked again (by the prefetch or by the read): Redis' value is what is served.
        Assert.Equal([1], await _b.GetAsync("k"));
        await Eventually.TrueAsync(() => _fleet.Redis.Commands > commands, "the key is fetched again");
    }

    [Fact]
    public async Task InvalidationOlderThanTheCopy_KeepsTheCopy()
    {
        await _a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        await _a.SetAsync("k", [2], new DistributedCacheEntryOptions());
        Assert.Equal([2], await _b.GetAsync("k"));
        _fleet.BusOf(_b).Deliver("i1|other|2|0|k");
        Assert.Equal([2], await _b.GetAsync("k"));
        Assert.Equal(1, _b.GetStatistics().L1Hits);
    }

    [Fact]
    public async Task ReadRacingAnInvalidation_DoesNotInstallTheOldValue()
    {
        await _a.SetAsync("k", [1], new DistributedCacheEntryOptions());

        // b's read fetched version 1 from Redis; before it installs, a's write of version 2 is heard.
        // The ticket taken before the fetch sees the invalidation and the old value is not installed.
        var l1 = _b.L1;
        var ticket = l1.BeginRead("k");
        var fetched = _fleet.Redis.Get("k", _b.InstanceId, register: true, refreshSliding: false, _fleet.Time.GetUtcNow().UtcTicks)!.Value;
        await _a.SetAsync("k", [2], new DistributedCacheEntryOptions());
        var stale = new L1.L1Entry("k", fetched.Data, fetched.Version, ticket.Epoch, long.MaxValue);
        Assert.False(l1.TryInstallRead(ticket, stale));
        Assert.Equal([2], await _b.GetAsync("k"));
    }

    [Fact]
    public async Task ConcurrentWritersOnManyInstances_ConvergeOnRedisValue()
    {
        var c = await _fleet.AddInstanceAsync();
        var caches = new[] { _a, _b, c };
        var options = new DistributedCacheEntryOptions();
        await Parallel.ForAsync(0, 3000, async (i, token) =>
        {
            var cache = caches[i % 3];
            var key = $"k{i % 7}";
            if (i % 4 == 0)
            {
                await cache.SetAsync(key, BitConverter.GetBytes(i), options, token);
            }
            else
            {
                _ = await cache.GetAsync(key, token);
            }
        });

        for (var k = 0; k < 7; k++)
        {
            var truth = _fleet.Redis.Get($"k{k}", "observer", register: false, refreshSliding: false, _fleet.Time.GetUtcNow().UtcTicks)?.Data;
            foreach (var cache in caches)
            {
                Assert.Equal(truth, await cache.GetAsync($"k{k}"));
            }
        }
    }
}
