using Cachee.Sessions.Redis;



namespace Cachee.Sessions.Tests;

public sealed class LargeKeyHintsTests
{
    [Fact]
    public void AKeyIsHintedWhileItsLastValueWasLarge()
    {
        var hints = new LargeKeyHints();
        hints.Saw("k", 100 * 1024, threshold: 64 * 1024);
        Assert.True(hints.Contains("k"));
        hints.Saw("k", 10, threshold: 64 * 1024);
        Assert.False(hints.Contains("k"));
        hints.Saw("k", 64 * 1024, threshold: 64 * 1024);
        Assert.True(hints.Contains("k"));
        hints.Forget("k");
        Assert.False(hints.Contains("k"));
    }

    [Fact]
    public void WhenFull_ItStartsAgainEmpty_SoItStaysBounded()
    {
        var hints = new LargeKeyHints(capacity: 3);
        foreach (var key in new[] { "a", "b", "c" })
        {
            hints.Saw(key, 2, threshold: 1);
        }

        hints.Saw("a", 2, threshold: 1); // already there: nothing changes
        Assert.True(hints.Contains("c"));
        hints.Saw("d", 2, threshold: 1);
        Assert.True(hints.Contains("d"));
        Assert.False(hints.Contains("a"));
    }
}
