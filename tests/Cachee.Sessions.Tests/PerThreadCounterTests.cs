using Cachee.Sessions.Diagnostics;








namespace Cachee.Sessions.Tests;

public sealed class PerThreadCounterTests
{
    [Fact]
    public async Task CountsFromManyThreadsAddUp()
    {
        using var counter = new PerThreadCounter();
        var threads = Enumerable.Range(0, 4).Select(_ => Task.Factory.StartNew(
            () =>
            {
                for (var i = 0; i < 100_000; i++)
                {
                    counter.Increment();
                }

                counter.Add(5);
            },
            TaskCreationOptions.LongRunning));
        await Task.WhenAll(threads);
        Assert.Equal((4 * 100_000) + (4 * 5), counter.Value);
    }

    [Fact]
    public void ACounterMadeAfterOneWasDisposed_StartsAtZero()
    {
        var first = new PerThreadCounter();
        first.Add(7);
        first.Dispose();
        using var second = new PerThreadCounter();
        Assert.Equal(0, second.Value);
        second.Increment();
        Assert.Equal(1, second.Value);
    }
}
