using Cachee.Sessions.Invalidation;



namespace Cachee.Sessions.Tests;

public sealed class AckTrackerTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AWaiter_CompletesWhenTheExpectedNumberOfInstancesAcknowledged(bool sync)
    {
        var tracker = new AckTracker();
        using var waiter = tracker.Register();
        tracker.Acknowledge(waiter.Id, "b");
        var waiting = Task.Run(async () => await waiter.WaitAsync(2, TimeSpan.FromSeconds(30), sync));
        tracker.Acknowledge(waiter.Id, "c");
        Assert.True(await waiting);
    }

    [Fact]
    public async Task AcknowledgementsBeforeTheWait_Count()
    {
        var tracker = new AckTracker();
        using var waiter = tracker.Register();
        tracker.Acknowledge(waiter.Id, "b");
        Assert.True(await waiter.WaitAsync(1, TimeSpan.Zero, sync: false));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AnInstanceAcknowledgingTwice_CountsOnce_AndTheWaitTimesOut(bool sync)
    {
        var tracker = new AckTracker();
        using var waiter = tracker.Register();
        tracker.Acknowledge(waiter.Id, "b");
        tracker.Acknowledge(waiter.Id, "b");
        Assert.False(await waiter.WaitAsync(2, TimeSpan.FromMilliseconds(20), sync));
    }

    [Fact]
    public async Task AcknowledgementsOfOtherWritesOrOfFinishedWaits_AreIgnored()
    {
        var tracker = new AckTracker();
        var first = tracker.Register();
        using var second = tracker.Register();
        Assert.NotEqual(first.Id, second.Id);
        first.Dispose();
        tracker.Acknowledge(first.Id, "b"); // its wait is over
        tracker.Acknowledge(12345, "b"); // never registered
        Assert.False(await second.WaitAsync(1, TimeSpan.FromMilliseconds(20), sync: false));
    }
}
