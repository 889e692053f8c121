using Cachee.Sessions.L1;
using Cachee.Sessions.Testing;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Tests;

/// <summary>An instance keeps copies of a key only while they get hit before the key changes, and never serves one it did not keep.</summary>
public sealed class HoldingTests : IAsyncLifetime
{
    private static readonly DistributedCacheEntryOptions NoExpiry = new();
    private readonly CacheeTestFleet _fleet = new(options => options.HoldOnlyPayingCopies = true);
    private TieredDistributedCache _writer = null!;
    private TieredDistributedCache _reader = null!;
    private int _version;

    public async Task InitializeAsync()
    {
        _writer = await _fleet.AddInstanceAsync();
        _reader = await _fleet.AddInstanceAsync();
    }

    public async Task DisposeAsync() => await _fleet.DisposeAsync();

    [Fact]
    public async Task AKeyChangedBeforeEveryRead_StopsBeingHeld_AndItsReadsCostNoRegistration()
    {
        await WriteAsync();
        Assert.Equal(Last, await _reader.GetAsync("k")); // a key never seen is held
        Assert.True(_reader.L1.TryPeek("k", out _));

        for (var round = 0; round < 5; round++)
        {
            await WriteAsync();
            Assert.Equal(Last, await _reader.GetAsync("k"));
        }

        Assert.False(_reader.Holding.ShouldHold(L1Store.Hash("k")));
        Assert.False(_reader.L1.TryPeek("k", out _));
        Assert.Equal(1, _fleet.Redis.HolderCount("k")); // the writer, first holder of each version it writes
        var received = _reader.GetStatistics().InvalidationsReceived;

        await WriteAsync();
        Assert.Equal(Last, await _reader.GetAsync("k"));
        Assert.Equal(received, _reader.GetStatistics().InvalidationsReceived); // no longer a holder: not told
    }

    [Fact]
    public async Task AKeyNotHeld_IsNeverServedFromL1()
    {
        await MakeColdAsync();
        var hits = _reader.GetStatistics().L1Hits;

        await WriteAsync();
        Assert.Equal(Last, await _reader.GetAsync("k"));
        await WriteAsync();
        Assert.Equal(Last, await _reader.GetAsync("k"));

        Assert.Equal(hits, _reader.GetStatistics().L1Hits);
        Assert.False(_reader.L1.TryPeek("k", out _));
    }

    [Fact]
    public async Task HoldingResumes_OnceReadsFindTheSameVersionAgain_AndNothingStaleAtTheSwitch()
    {
        await MakeColdAsync();
        var reads = 0;
        while (!_reader.Holding.ShouldHold(L1Store.Hash("k")))
        {
            Assert.Equal(Last, await _reader.GetAsync("k"));
            Assert.True(++reads <= HoldingPolicy.MaxScore + 1, "holding resumes within the score's range of reads");
        }

        Assert.Equal(Last, await _reader.GetAsync("k")); // the read that holds again
        var hits = _reader.GetStatistics().L1Hits;
        Assert.Equal(Last, await _reader.GetAsync("k"));
        Assert.Equal(hits + 1, _reader.GetStatistics().L1Hits);

        // Held again: a change reaches this instance, which drops its copy before the writer returns.
        await WriteAsync();
        Assert.False(_reader.L1.TryPeek("k", out var stale) && stale.Version < _version);
        Assert.Equal(Last, await _reader.GetAsync("k"));
    }

    [Fact]
    public async Task AHeldCopyHitBeforeEachChange_StaysHeld()
    {
        for (var round = 0; round < 10; round++)
        {
            await WriteAsync();
            Assert.Equal(Last, await _reader.GetAsync("k"));
            Assert.Equal(Last, await _reader.GetAsync("k"));
        }

        Assert.True(_reader.Holding.ShouldHold(L1Store.Hash("k")));
        Assert.True(_reader.L1.TryPeek("k", out _));
    }

    [Fact]
    public async Task AWriterWhoseCopiesAreNotHit_KeepsNoCopy_AndIsNotToldOfOtherWrites()
    {
        // The writer's own copies end unused at each other instance's write.
        for (var round = 0; round < 4; round++)
        {
            await _writer.SetAsync("k", Next(), NoExpiry);
            await _reader.SetAsync("k", Next(), NoExpiry);
        }

        Assert.False(_writer.Holding.ShouldHold(L1Store.Hash("k")));
        await _writer.SetAsync("k", Next(), NoExpiry);
        Assert.False(_writer.L1.TryPeek("k", out _));
        Assert.Equal(Last, await _reader.GetAsync("k"));
        Assert.Equal(Last, await _writer.GetAsync("k"));
    }

    [Fact]
    public async Task ARefreshAfterAReadThatKeptNoCopy_CostsRedisNothing_UntilARenewalIsDue()
    {
        var sliding = new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) }; // tolerance: 24 s
        await MakeColdAsync();
        await _writer.SetAsync("k", Next(), sliding);
        Assert.Equal(Last, await _reader.GetAsync("k"));

        var commands = _fleet.Redis.Commands;
        await _reader.RefreshAsync("k");
        _reader.Refresh("k");
        Assert.Equal(commands, _fleet.Redis.Commands);

        _fleet.Time.Advance(TimeSpan.FromSeconds(25));
        await _reader.RefreshAsync("k");
        Assert.Equal(commands + 1, _fleet.Redis.Commands);
        Assert.Equal(20 * 60 * 1000, _fleet.Redis.Pttl("k"));
    }

    [Fact]
    public async Task WithTheOptionOff_EveryReadKeepsACopy()
    {
        await using var fleet = new CacheeTestFleet(options => options.HoldOnlyPayingCopies = false);
        var writer = await fleet.AddInstanceAsync();
        var reader = await fleet.AddInstanceAsync();
        for (var round = 0; round < 5; round++)
        {
            await writer.SetAsync("k", [(byte)round], NoExpiry);
            Assert.Equal([(byte)round], (await reader.GetAsync("k"))!);
        }

        Assert.True(reader.L1.TryPeek("k", out _));
        Assert.Equal(2, fleet.Redis.HolderCount("k"));
    }

    private byte[] Last => [(byte)_version];

    private byte[] Next() => [(byte)++_version];

    private Task WriteAsync() => _writer.SetAsync("k", Next(), NoExpiry);

    // Writes and reads until the reader stops holding the key (its copies were never hit).
    private async Task MakeColdAsync()
    {
        for (var round = 0; round < 10 && _reader.Holding.ShouldHold(L1Store.Hash("k")); round++)
        {
            await WriteAsync();
            Assert.Equal(Last, await _reader.GetAsync("k"));
        }

        Assert.False(_reader.Holding.ShouldHold(L1Store.Hash("k")));
    }
}
