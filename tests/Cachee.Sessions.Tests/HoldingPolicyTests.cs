using Cachee.Sessions.L1;

namespace Cachee.Sessions.Tests;

/// <summary>The per-key score behind the holding decision.</summary>
public sealed class HoldingPolicyTests
{
    private const ulong Key = 0x1234_5678_9ABC_DEF0;

    [Fact]
    public void AKeyNeverSeen_IsHeld_ThroughOneUnusedCopy_NotTwo()
    {
        var policy = new HoldingPolicy(1024);
        Assert.True(policy.ShouldHold(Key));
        Assert.Null(policy.ScoreOf(Key));

        policy.CopyEnded(Key, wasHit: false);
        Assert.True(policy.ShouldHold(Key));
        policy.CopyEnded(Key, wasHit: false);
        Assert.False(policy.ShouldHold(Key));
    }

    [Fact]
    public void CopiesHitThreeTimesInFour_KeepTheKeyHeld_AndTheScoreStaysInItsRange()
    {
        var policy = new HoldingPolicy(1024);
        for (var copy = 0; copy < 100; copy++)
        {
            policy.CopyEnded(Key, wasHit: copy % 4 != 0);
            Assert.True(policy.ShouldHold(Key), $"copy {copy}");
            Assert.InRange(policy.ScoreOf(Key)!.Value, -HoldingPolicy.MaxScore, HoldingPolicy.MaxScore);
        }
    }

    [Fact]
    public void ReadsWithoutCopy_CountWhatACopyWouldHaveDone()
    {
        var policy = new HoldingPolicy(1024);
        policy.CopyEnded(Key, wasHit: false);
        policy.CopyEnded(Key, wasHit: false);
        Assert.False(policy.ShouldHold(Key));

        // Each read finds a new version: every would-be copy ends unused.
        for (long version = 1; version <= 5; version++)
        {
            policy.ReadWithoutCopy(Key, version);
        }

        Assert.Equal(-HoldingPolicy.MaxScore, policy.ScoreOf(Key));

        // The key stopped changing: reads that find the same version would have been hits.
        var reads = 0;
        while (!policy.ShouldHold(Key))
        {
            policy.ReadWithoutCopy(Key, 5);
            Assert.True(++reads <= HoldingPolicy.MaxScore);
        }
    }

    [Fact]
    public void AKeyTakingTheSlotOfAnother_StartsAfresh()
    {
        var policy = new HoldingPolicy(1024);
        policy.CopyEnded(Key, wasHit: false);
        policy.CopyEnded(Key, wasHit: false);
        const ulong other = Key ^ 0xFF; // same slot (the index comes from the high bits), another key
        policy.Held(other);

        Assert.True(policy.ShouldHold(other));
        Assert.True(policy.ShouldHold(Key)); // its slot was taken over: unknown again, so held
    }

    [Fact]
    public void Disabled_HoldsEveryKey_AndLearnsNothing()
    {
        var policy = new HoldingPolicy(1024, enabled: false);
        policy.CopyEnded(Key, wasHit: false);
        policy.CopyEnded(Key, wasHit: false);
        policy.NoteRenewalCovered(Key, long.MaxValue);

        Assert.True(policy.ShouldHold(Key));
        Assert.False(policy.RenewalCovered(Key, 0));
    }
}
