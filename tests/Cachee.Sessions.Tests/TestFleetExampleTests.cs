using System.Text;
using Cachee.Sessions.Testing;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Tests;

/// <summary>The README's "Testing your app" example, as written there, and the fault injection it mentions.</summary>
public sealed class TestFleetExampleTests
{
    [Fact]
    public async Task ReadmeExample_ChangeOnOneInstance_IsSeenByTheOther()
    {
        // README: Testing your app
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();

        await a.SetStringAsync("cart:42", "3 items");
        Assert.Equal("3 items", await b.GetStringAsync("cart:42")); // b now holds a copy in its L1

        await a.SetStringAsync("cart:42", "4 items");
        Assert.Equal("4 items", await b.GetStringAsync("cart:42")); // a's write invalidated b's copy

        fleet.Redis.Fail();
        await Assert.ThrowsAsync<CacheUnavailableException>(() => b.GetStringAsync("cart:41"));
        // README end
    }

    [Fact]
    public async Task PauseUntil_HoldsCommandsUntilTheTaskCompletes()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        var resume = new TaskCompletionSource();
        fleet.Redis.PauseUntil(resume.Task);

        var write = a.SetAsync("k", Encoding.UTF8.GetBytes("v"), new DistributedCacheEntryOptions());
        Assert.False(write.IsCompleted); // unpaused, the model answers synchronously

        resume.SetResult();
        await write;
        Assert.Equal("v", await a.GetStringAsync("k"));
    }

    [Fact]
    public async Task DropSubscription_StopsL1_AndRestoreResumesIt()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetStringAsync("k", "1");
        _ = await b.GetStringAsync("k");
        var commands = fleet.Redis.Commands;

        _ = await b.GetStringAsync("k");
        Assert.Equal(commands, fleet.Redis.Commands); // served from L1

        fleet.DropSubscription(b);
        _ = await b.GetStringAsync("k");
        Assert.Equal(commands + 1, fleet.Redis.Commands); // no copy is trusted while b cannot hear invalidations

        fleet.RestoreSubscription(b);
        _ = await b.GetStringAsync("k");
        _ = await b.GetStringAsync("k");
        Assert.Equal(commands + 2, fleet.Redis.Commands); // one read installs a copy from the new epoch, the next is a hit
    }

    [Fact]
    public async Task SetFromOtherClient_RevokesTheCopiesOfEveryInstance()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        await a.SetStringAsync("k", "old");
        Assert.Equal("old", await a.GetStringAsync("k"));

        fleet.Redis.SetFromOtherClient("k", Encoding.UTF8.GetBytes("new"));

        Assert.Equal("new", await a.GetStringAsync("k"));
    }

    [Fact]
    public async Task AnInstanceOfAnotherFleet_IsRefused()
    {
        await using var one = new CacheeTestFleet();
        await using var other = new CacheeTestFleet();
        var stranger = await other.AddInstanceAsync();

        Assert.Throws<ArgumentException>(() => one.DropSubscription(stranger));
    }

    [Fact]
    public async Task MoveSlot_HoldsBackTheMovedKeysOnly_UntilTheMoveCompletes()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetStringAsync("moving:1", "m");
        await a.SetStringAsync("staying:1", "s");
        _ = await b.GetStringAsync("moving:1");
        _ = await b.GetStringAsync("staying:1");
        var commands = fleet.Redis.Commands;

        fleet.MoveSlot(key => key.StartsWith("moving:", StringComparison.Ordinal));
        Assert.Equal("s", await b.GetStringAsync("staying:1"));
        Assert.Equal(commands, fleet.Redis.Commands); // still an L1 hit
        Assert.Equal("m", await b.GetStringAsync("moving:1"));
        Assert.Equal("m", await b.GetStringAsync("moving:1"));
        Assert.Equal(commands + 2, fleet.Redis.Commands); // dropped, and not kept again while the node is unproven

        fleet.CompleteSlotMove();
        _ = await b.GetStringAsync("moving:1");
        _ = await b.GetStringAsync("moving:1");
        Assert.Equal(commands + 3, fleet.Redis.Commands); // kept again: one read, then a hit
    }
}
