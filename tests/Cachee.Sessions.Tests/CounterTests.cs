using Cachee.Sessions.Diagnostics;



namespace Cachee.Sessions.Tests;

public sealed class CounterTests
{
    [Fact]
    public async Task HitCounter_CountsFromManyThreadsAddUp()
    {
        var counter = new HitCounter();
        var threads = Enumerable.Range(0, 4).Select(_ => Task.Factory.StartNew(
            () =>
            {
                for (var i = 0; i < 100_000; i++)
                {
                    counter.Increment();
                }
            },
            TaskCreationOptions.LongRunning));
        await Task.WhenAll(threads);
        Assert.Equal(4 * 100_000, counter.Value);
    }

    [Fact]
    public async Task Counter_CountsFromManyThreadsAddUp()
    {
        var counter = new Counter();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                counter.Increment();
            }

            counter.Add(5);
        })));
        Assert.Equal((4 * 10_000) + (4 * 5), counter.Value);
    }

    [Fact]
    public void CountersOfTwoCaches_AreIndependent_OnOneThread()
    {
        var one = new CacheeCounters(countL1Hits: true);
        var other = new CacheeCounters(countL1Hits: true);
        one.L1Hits!.Increment();
        other.L1Hits!.Increment();
        one.L1Hits.Increment(); // the thread's cell switches back to the first counter's
        one.L2Hits.Increment();
        Assert.Equal(2, one.L1Hits.Value);
        other.L1Hits.Increment();
        Assert.Equal(2, other.L1Hits.Value);
        one.L1Hits.Increment();
        one.L1Hits.Increment();
        Assert.Equal((4, 1), (one.L1Hits.Value, one.L2Hits.Value));
        Assert.Equal((2, 0), (other.L1Hits.Value, other.L2Hits.Value));
    }
}
