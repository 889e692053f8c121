using Cachee.Sessions.Invalidation;



namespace Cachee.Sessions.Tests;

public sealed class InvalidationMessageTests
{
    [Theory]
    [InlineData("simple", 0)]
    [InlineData("with|bars|inside", 17)]
    [InlineData("", 1)]
    [InlineData("ünïcødé 🙂", 0)]
    public void Invalidation_RoundTrips(string key, long ackId)
    {
        var message = InvalidationMessage.Parse(InvalidationMessage.FormatInvalidation("abc", 42, ackId, key));
        Assert.Equal(new ParsedMessage(MessageKind.Invalidation, "abc", 42, ackId, key), message);
    }

    [Fact]
    public void Probe_RoundTrips() =>
        Assert.Equal(new ParsedMessage(MessageKind.Probe, "me", 0, 0, "t0k"), InvalidationMessage.Parse(InvalidationMessage.FormatProbe("me", "t0k")));

    [Fact]
    public void Ack_RoundTrips() =>
        Assert.Equal(new ParsedMessage(MessageKind.Ack, "b", 0, 9, string.Empty), InvalidationMessage.Parse(InvalidationMessage.FormatAck(9, "b")));

    [Fact]
    public void StorePrefixPlusVersionPlusSuffix_IsTheSameMessage() =>
        Assert.Equal(
            InvalidationMessage.FormatInvalidation("o", 7, 3, "k"),
            InvalidationMessage.InvalidationPrefix("o") + "7" + InvalidationMessage.InvalidationSuffix(3, "k"));

    [Theory]
    [InlineData(null)]
    [InlineData("x1|o|1|0|k")]
    [InlineData("i1|o|1")]
    [InlineData("i1|o|1|0")]
    [InlineData("i1|o||0|k")]
    [InlineData("i1|o|99999999999999999999|0|k")]
    [InlineData("i1|o|1.5|0|k")]
    [InlineData("a1|0|b")]
    [InlineData("a1|-1|b")]
    [InlineData("a1|5")]
    [InlineData("a1|5|")]
    public void Malformed_IsRecognised(string? text) =>
        Assert.Equal(MessageKind.Malformed, InvalidationMessage.Parse(text).Kind);
}
