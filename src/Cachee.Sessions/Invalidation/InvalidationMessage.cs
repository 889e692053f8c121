using System.Globalization;

namespace Cachee.Sessions.Invalidation;

/// <summary>
/// The text format of the messages between instances. None carries a value, so a forged message can at worst cause a miss
/// (or, for an acknowledgement, end a writer's wait early). All of them travel on the receiving instance's own channel
/// (<see cref="InboxChannel"/>).
/// <list type="bullet">
/// <item><c>i1|{origin}|{version}|{ack}|{key}</c>, to the holders of a copy: the entry <c>key</c> changed to
/// <c>version</c> on instance <c>origin</c>, which waits for acknowledgement <c>ack</c> (0: no acknowledgement wanted).
/// The key comes last and may itself contain '|'.</item>
/// <item><c>p1|{origin}|{token}</c>: a probe an instance sends itself to prove its subscription is live.</item>
/// <item><c>a1|{ack}|{origin}</c>, to a writer: instance <c>origin</c> has dropped its copy.</item>
/// </list>
/// </summary>
internal static class InvalidationMessage
{
    private const string InvalidationTag = "i1|";
    private const string ProbeTag = "p1|";
    private const string AckTag = "a1|";

    /// <summary>The part of an invalidation before the version (the store appends the version and <see cref="InvalidationSuffix"/>).</summary>
    public static string InvalidationPrefix(string origin) => InvalidationTag + origin + "|";

    /// <summary>The part of an invalidation after the version.</summary>
    public static string InvalidationSuffix(long ackId, string key) =>
        string.Concat("|", ackId.ToString(CultureInfo.InvariantCulture), "|", key);

    public static string FormatInvalidation(string origin, long version, long ackId, string key) =>
        string.Concat(InvalidationPrefix(origin), version.ToString(CultureInfo.InvariantCulture), InvalidationSuffix(ackId, key));

    public static string FormatProbe(string origin, string token) => ProbeTag + origin + "|" + token;

    public static string FormatAck(long ackId, string acker) => string.Concat(AckTag, ackId.ToString(CultureInfo.InvariantCulture), "|", acker);

    /// <summary>
    /// An instance's own channel, the only one it listens on: the invalidations of keys it holds, the acknowledgements of its
    /// own writes, and its probes.
    /// </summary>
    public static string InboxChannel(string channelBase, string origin) => channelBase + ":inbox:" + origin;

    /// <summary>Parses a message; anything that is not one of the forms above is <see cref="MessageKind.Malformed"/>.</summary>
    public static ParsedMessage Parse(string? message)
    {
        if (message is null)
        {
            return default;
        }

        if (message.StartsWith(AckTag, StringComparison.Ordinal))
        {
            var fields = message.AsSpan(AckTag.Length);
            return TakeField(ref fields, out var idSpan) && TryParseId(idSpan, out var ack) && ack > 0 && !fields.IsEmpty
                ? new ParsedMessage(MessageKind.Ack, fields.ToString(), 0, ack, string.Empty)
                : default;
        }

        var isInvalidation = message.StartsWith(InvalidationTag, StringComparison.Ordinal);
        if (!isInvalidation && !message.StartsWith(ProbeTag, StringComparison.Ordinal))
        {
            return default;
        }

        var rest = message.AsSpan(InvalidationTag.Length);
        if (!TakeField(ref rest, out var originSpan) || originSpan.IsEmpty)
        {
            return default;
        }

        var origin = originSpan.ToString();
        if (!isInvalidation)
        {
            return rest.IsEmpty ? default : new ParsedMessage(MessageKind.Probe, origin, 0, 0, rest.ToString());
        }

        if (!TakeField(ref rest, out var versionSpan) || !TryParseId(versionSpan, out var version)
            || !TakeField(ref rest, out var ackSpan) || !TryParseId(ackSpan, out var ackId))
        {
            return default;
        }

        return new ParsedMessage(MessageKind.Invalidation, origin, version, ackId, rest.ToString());
    }

    private static bool TakeField(ref ReadOnlySpan<char> rest, out ReadOnlySpan<char> field)
    {
        var bar = rest.IndexOf('|');
        if (bar < 0)
        {
            field = default;
            return false;
        }

        field = rest[..bar];
        rest = rest[(bar + 1)..];
        return true;
    }

    private static bool TryParseId(ReadOnlySpan<char> text, out long value) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
}

/// <summary>What a message between instances is.</summary>
internal enum MessageKind
{
    Malformed,
    Invalidation,
    Probe,
    Ack,

    /// <summary>Redis' tracking reported that the key changed, by whichever client (no version, no origin).</summary>
    Revoked,
}

/// <summary>A parsed message; <c>KeyOrToken</c> is the key of an invalidation or the token of a probe.</summary>
internal readonly record struct ParsedMessage(MessageKind Kind, string Origin, long Version, long AckId, string KeyOrToken);
