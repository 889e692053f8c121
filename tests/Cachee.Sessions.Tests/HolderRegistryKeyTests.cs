using Cachee.Sessions.Redis.Cluster;



namespace Cachee.Sessions.Tests;

/// <summary>An entry's holder registry lives in the entry's cluster slot (a script may touch one slot only) and is never an entry key.</summary>
public sealed class HolderRegistryKeyTests
{
    [Theory]
    [InlineData("somekey", 11058)] // the values of Redis' CLUSTER KEYSLOT documentation
    [InlineData("foo{hash_tag}", 2515)]
    [InlineData("123456789", 12739)] // CRC16/XMODEM's check value, 0x31C3
    public void SlotOf_IsRedisClusterSlot(string key, int slot) => Assert.Equal(slot, HashSlot.Of(key));

    [Theory]
    [InlineData("app:", "session-1")]
    [InlineData("app:", "{user:7}:cart")]
    [InlineData("{tenant}:", "s")]
    [InlineData("", "plain")]
    [InlineData(null, "a{b")]
    [InlineData("app:", "x{}y")]
    [InlineData("a{", "k")]
    [InlineData("app:", "ünïcødé-κλειδί")]
    public void Registry_SharesTheEntrysSlot_AndIsAnotherKey(string? prefix, string key)
    {
        var entry = (prefix ?? string.Empty) + key;
        var registry = (string)HolderRegistryKey.For(prefix, key)!;
        Assert.Equal(HashSlot.Of(entry), HashSlot.Of(registry));
        Assert.NotEqual(entry, registry);
        Assert.NotEqual(registry, (string)HolderRegistryKey.For(prefix, key + "2")!);
    }

    [Fact]
    public void Registry_StartsWithTheInstancePrefix_WhenThePrefixHasNoBrace() =>
        Assert.StartsWith("app:", (string)HolderRegistryKey.For("app:", "session-1")!, StringComparison.Ordinal);
}
