using Cachee.Sessions.L2;
using Cachee.Sessions.Testing;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Tests;

/// <summary>Absolute, relative and sliding expiration on a fake clock, across both tiers.</summary>
public sealed class ExpirationTests : IAsyncLifetime
{
    private readonly CacheeTestFleet _fleet = new();
    private TieredDistributedCache _cache = null!;

    public async Task InitializeAsync() => _cache = await _fleet.AddInstanceAsync();

    public async Task DisposeAsync() => await _fleet.DisposeAsync();

    [Fact]
    public async Task AbsoluteExpiration_EntryGoneAtThatInstant()
    {
        await _cache.SetAsync("k", [1], new DistributedCacheEntryOptions { AbsoluteExpiration = _fleet.Time.GetUtcNow().AddMinutes(5) });
        _fleet.Time.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromMilliseconds(1));
        Assert.NotNull(await _cache.GetAsync("k"));
        _fleet.Time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Null(await _cache.GetAsync("k"));
    }

    [Fact]
    public async Task RelativeExpiration_EntryGoneAfterThatSpan()
    {
        _cache.Set("k", [1], new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromSeconds(30) });
        _fleet.Time.Advance(TimeSpan.FromSeconds(29));
        Assert.NotNull(_cache.Get("k"));
        _fleet.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(_cache.Get("k"));
    }

    [Fact]
    public async Task SlidingExpiration_IdleEntryExpiresAfterWindow()
    {
        await _cache.SetAsync("k", [1], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        _fleet.Time.Advance(TimeSpan.FromMinutes(20));
        Assert.Null(await _cache.GetAsync("k"));
        Assert.Equal(-2, _fleet.Redis.Pttl("k"));
    }

    [Fact]
    public async Task SlidingExpiration_EveryAccessKeepsItAlive_ServedFromL1()
    {
        await _cache.SetAsync("k", [1], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        for (var i = 0; i < 10; i++)
        {
            _fleet.Time.Advance(TimeSpan.FromMinutes(9)); // idle, but within the holder registration the last renewal made
            Assert.NotNull(await _cache.GetAsync("k"));
            await _cache.Coordinator.FlushRefreshesAsync(CancellationToken.None);
        }

        Assert.Equal(10, _cache.GetStatistics().L1Hits);
        Assert.Equal(0, _cache.GetStatistics().L2Hits);
    }

    [Fact]
    public async Task SlidingExpiration_NeverExtendsPastAbsolute()
    {
        var start = _fleet.Time.GetUtcNow();
        await _cache.SetAsync("k", [1], new DistributedCacheEntryOptions
        {
            SlidingExpiration = TimeSpan.FromMinutes(10),
            AbsoluteExpiration = start.AddMinutes(25),
        });
        for (var minute = 8; minute < 25; minute += 8)
        {
            _fleet.Time.SetUtcNow(start.AddMinutes(minute));
            Assert.NotNull(await _cache.GetAsync("k"));
            await _cache.Coordinator.FlushRefreshesAsync(CancellationToken.None);
        }

        Assert.True(_fleet.Redis.Pttl("k") <= TimeSpan.FromMinutes(1).TotalMilliseconds);
        _fleet.Time.SetUtcNow(start.AddMinutes(25));
        Assert.Null(await _cache.GetAsync("k"));
    }

    [Fact]
    public async Task Refresh_ExtendsSlidingEntryWithoutReadingIt()
    {
        await _cache.SetAsync("k", [1], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        for (var i = 0; i < 5; i++)
        {
            _fleet.Time.Advance(TimeSpan.FromMinutes(19));
            await _cache.RefreshAsync("k");
            _cache.Refresh("k");
            await _cache.Coordinator.FlushRefreshesAsync(CancellationToken.None);
        }

        Assert.Equal([1], await _cache.GetAsync("k"));
    }

    [Fact]
    public async Task Refresh_DoesNotExtendAbsoluteOnlyEntry()
    {
        await _cache.SetAsync("k", [1], new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(1) });
        _fleet.Time.Advance(TimeSpan.FromSeconds(50));
        await _cache.RefreshAsync("k");
        await _cache.Coordinator.FlushRefreshesAsync(CancellationToken.None);
        _fleet.Time.Advance(TimeSpan.FromSeconds(10));
        Assert.Null(await _cache.GetAsync("k"));
    }

    [Fact]
    public async Task Refresh_MissingKey_DoesNothing()
    {
        await _cache.RefreshAsync("absent");
        Assert.Null(await _cache.GetAsync("absent"));
    }

    [Fact]
    public async Task L1Copy_NeverOutlivesItsHolderRegistration()
    {
        var other = await _fleet.AddInstanceAsync();
        await _cache.SetAsync("k", [1], new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromHours(2) });
        Assert.NotNull(await other.GetAsync("k"));

        // Past its registration, a writer would no longer be told about this copy: it is not served, and the next read
        // registers again.
        var margin = TimeSpan.FromTicks(other.L1.Clock.Margin);
        _fleet.Time.Advance(L2.HolderRegistry.Lifetime - margin - TimeSpan.FromTicks(1));
        Assert.NotNull(await other.GetAsync("k"));
        Assert.Equal(1, other.GetStatistics().L1Hits);
        _fleet.Time.Advance(TimeSpan.FromTicks(1));
        Assert.NotNull(await other.GetAsync("k"));
        Assert.Equal((1, 2L), (other.GetStatistics().L1Hits, other.GetStatistics().L2Hits));
    }

    [Fact]
    public async Task L1Copy_NeverOutlivesRedisEntry()
    {
        var other = await _fleet.AddInstanceAsync();
        await _cache.SetAsync("k", [1], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(5) });
        Assert.NotNull(await other.GetAsync("k"));

        // Redis loses the entry and its report is lost too: the L1 copies may be served until the L1 clock's margin before
        // Redis would have expired the entry, and not one tick longer.
        _fleet.Redis.DropSilently("k");
        var margin = TimeSpan.FromTicks(other.L1.Clock.Margin);
        _fleet.Time.Advance(TimeSpan.FromMinutes(5) - margin - TimeSpan.FromTicks(1));
        Assert.NotNull(await other.GetAsync("k"));
        _fleet.Time.Advance(TimeSpan.FromTicks(1));
        Assert.Null(await other.GetAsync("k"));
        Assert.Null(await _cache.GetAsync("k"));
    }

    [Fact]
    public async Task Sweep_RemovesExpiredEntriesFromL1()
    {
        await _cache.SetAsync("short", [1], new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromSeconds(1) });
        await _cache.SetAsync("long", [2], new DistributedCacheEntryOptions());
        Assert.Equal(2, _cache.GetStatistics().L1Entries);
        _fleet.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, _cache.Coordinator.SweepExpired());
        Assert.Equal(1, _cache.GetStatistics().L1Entries);
    }
}
