using Cachee.Sessions.L1;



namespace Cachee.Sessions.Tests;

public sealed class FrequencySketchTests
{
    [Fact]
    public void Estimate_CountsIncrements_UpToFifteen()
    {
        var sketch = new FrequencySketch(1_000);
        var hash = L1Store.Hash("popular");
        Assert.Equal(0, sketch.Estimate(hash));
        for (var i = 1; i <= 20; i++)
        {
            sketch.Increment(hash);
            Assert.Equal(Math.Min(i, 15), sketch.Estimate(hash));
        }
    }

    [Fact]
    public void Estimate_OfOtherKeys_StaysLowWhileOneKeyIsCountedOften()
    {
        var sketch = new FrequencySketch(1_000);
        for (var i = 0; i < 10; i++)
        {
            sketch.Increment(L1Store.Hash("popular"));
        }

        var overcounted = Enumerable.Range(0, 1_000).Count(i => sketch.Estimate(L1Store.Hash($"other{i}")) > 0);
        Assert.True(overcounted <= 5, $"{overcounted} of 1,000 never-counted keys read above 0");
    }

    [Fact]
    public void OldPopularity_Fades_AfterTenEntriesWorthOfAdditions()
    {
        var sketch = new FrequencySketch(1_024);
        var old = L1Store.Hash("old");
        for (var i = 0; i < 15; i++)
        {
            sketch.Increment(old);
        }

        for (var i = 0; i < 10 * 1_024; i++)
        {
            sketch.Increment(L1Store.Hash($"k{i}"));
        }

        Assert.InRange(sketch.Estimate(old), 1, 8); // halved (at least once), not forgotten
    }
}
