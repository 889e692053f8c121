using Cachee.Sessions.L2;



namespace Cachee.Sessions.Tests;

public sealed class RedisTtlTests
{
    [Fact]
    public void FromPttl_MapsRedisRepliesToTypes()
    {
        Assert.Equal(1234, RedisTtl.FromPttl(1234).Milliseconds);
        Assert.Equal(0, RedisTtl.FromPttl(0).Milliseconds);
        Assert.True(RedisTtl.FromPttl(-1) is { IsNone: true, IsKnown: true });
        Assert.False(RedisTtl.FromPttl(-2).IsKnown); // the key vanished between the read and the look at its expiry
        Assert.False(RedisTtl.FromPttl(-3).IsKnown);
        Assert.Equal(RedisTtl.None, RedisTtl.FromPttl(-1));
    }

    [Fact]
    public void Milliseconds_OfNoneOrUnknown_IsAnError()
    {
        Assert.Throws<InvalidOperationException>(() => RedisTtl.None.Milliseconds);
        Assert.Throws<InvalidOperationException>(() => RedisTtl.Unknown.Milliseconds);
        Assert.Equal(("none", "unknown", "5 ms"), (RedisTtl.None.ToString(), RedisTtl.Unknown.ToString(), RedisTtl.FromPttl(5).ToString()));
    }
}
