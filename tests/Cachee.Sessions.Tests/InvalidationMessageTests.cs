using Cachee.Sessions.Invalidation;

namespace Cachee.Sessions.Tests;

public sealed class InvalidationMessageTests
{
    [Theory]
    [InlineData("simple")]
    [InlineData("with|bars|inside")]
    [InlineData("")]
    [InlineData("ünïcødé 🙂")]
    public void Invalidation_RoundTrips(string key)
    {
        var text = InvalidationMessage.FormatInvalidation("abc", 42, key);
        Assert.Equal(MessageKind.Invalidation, InvalidationMessage.Parse(text, out var origin, out var version, out var parsedKey));
        Assert.Equal("abc", origin);
        Assert.Equal(42, version);
        Assert.Equal(key, parsedKey);
    }

    [Fact]
    public void Probe_RoundTrips()
    {
        Assert.Equal(MessageKind.Probe, InvalidationMessage.Parse(InvalidationMessage.FormatProbe("me", "t0k"), out var origin, out _, out var token));
        Assert.Equal("me", origin);
        Assert.Equal("t0k", token);
    }

    [Fact]
    public void StorePrefixPlusVersionAndKey_IsTheSameMessage() =>
        Assert.Equal(InvalidationMessage.FormatInvalidation("o", 7, "k"), InvalidationMessage.InvalidationPrefix("o") + "7|k");

    [Theory]
    [InlineData("x1|o|1|k")]
    [InlineData("i1|o|1")]
    [InlineData("i1|o||k")]
    [InlineData("i1|o|99999999999999999999|k")]
    [InlineData("i1|o|1.5|k")]
    public void Malformed_IsRecognised(string text) =>
        Assert.Equal(MessageKind.Malformed, InvalidationMessage.Parse(text, out _, out _, out _));
}
