using Cachee.Sessions.L2;
using Cachee.Sessions.Replay;



namespace Cachee.Sessions.Tests;

public sealed class ReplayQueueTests
{
    private static readonly EntryExpiration Sliding = new(EntryExpiration.None, TimeSpan.FromMinutes(20).Ticks);

    [Fact]
    public void Writes_AreKeptOnePerKey_OldestFirst_AndFoundByKey()
    {
        var queue = new ReplayQueue(10);
        Assert.True(queue.TryEnqueue("a", [1], Sliding, 4));
        Assert.True(queue.TryEnqueue("b", [2], Sliding, 7));
        Assert.Equal(2, queue.Count);
        Assert.Equal("a", queue.Oldest()?.Key);
        Assert.Equal([2], queue.Find("b")?.Value);
        Assert.Null(queue.Find("c"));
    }

    [Fact]
    public void ASecondWriteOfAQueuedKey_ReplacesTheValue_AndKeepsTheFirstBaseVersion()
    {
        var queue = new ReplayQueue(10);
        Assert.True(queue.TryEnqueue("a", [1], Sliding, 4));
        Assert.True(queue.TryEnqueue("a", [2], Sliding, 5));
        var write = Assert.IsType<ReplayedWrite>(queue.Find("a"));
        Assert.Equal([2], write.Value);
        Assert.Equal(4, write.BaseVersion);
        Assert.Equal(1, queue.Count);
    }

    [Fact]
    public void AFullQueue_RefusesNewKeys_ButAcceptsAnotherWriteOfAQueuedKey()
    {
        var queue = new ReplayQueue(1);
        Assert.True(queue.TryEnqueue("a", [1], Sliding, 0));
        Assert.False(queue.TryEnqueue("b", [2], Sliding, 0));
        Assert.True(queue.TryEnqueue("a", [3], Sliding, 0));
    }

    [Fact]
    public void Applied_ItsWriteLeaves_AndAWriteQueuedMeanwhileBuildsOnTheNewVersion()
    {
        var queue = new ReplayQueue(10);
        Assert.True(queue.TryEnqueue("a", [1], Sliding, 4));
        var first = queue.Oldest()!;
        Assert.True(queue.TryEnqueue("a", [2], Sliding, 4)); // written while the first was being replayed
        Assert.Equal(0, queue.Complete(first, version: 5));
        Assert.Equal(5, queue.Find("a")?.BaseVersion);

        Assert.Equal(0, queue.Complete(queue.Oldest()!, version: 6));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void NotApplied_ALaterWriteOfTheSameOutdatedViewIsDroppedToo()
    {
        var queue = new ReplayQueue(10);
        Assert.True(queue.TryEnqueue("a", [1], Sliding, 4));
        var first = queue.Oldest()!;
        Assert.True(queue.TryEnqueue("a", [2], Sliding, 4)); // replaces the first: one write per key
        Assert.Equal(1, queue.Complete(first, version: null));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void ForgetAndDiscard_RemoveAKeysWrite()
    {
        var queue = new ReplayQueue(10);
        Assert.True(queue.TryEnqueue("a", [1], Sliding, 0));
        Assert.True(queue.TryEnqueue("b", [2], Sliding, 0));
        queue.Forget("a");
        queue.Discard(queue.Find("b")!);
        Assert.Equal(0, queue.Count);
        Assert.Null(queue.Oldest());
    }
}
