using System.Globalization;

namespace Cachee.Sessions.Invalidation;

/// <summary>
/// The text format of the messages on the invalidation channel. They carry no value, so a forged message can at worst cause a miss.
/// <list type="bullet">
/// <item><c>i1|{origin}|{version}|{key}</c>: the entry <c>key</c> changed to <c>version</c> on instance <c>origin</c>
/// (the key comes last and may itself contain '|').</item>
/// <item><c>p1|{origin}|{token}</c>: a probe an instance sends itself to prove its subscription is live.</item>
/// </list>
/// </summary>
internal static class InvalidationMessage
{
    private const string InvalidationTag = "i1|";
    private const string ProbeTag = "p1|";

    /// <summary>The part of an invalidation before the version; the store appends <c>version + "|" + key</c>.</summary>
    public static string InvalidationPrefix(string origin) => InvalidationTag + origin + "|";

    public static string FormatInvalidation(string origin, long version, string key) =>
        string.Concat(InvalidationPrefix(origin), version.ToString(CultureInfo.InvariantCulture), "|", key);

    public static string FormatProbe(string origin, string token) => ProbeTag + origin + "|" + token;

    /// <summary>Parses a message; returns <see cref="MessageKind.Malformed"/> for anything that is not one of the two forms.</summary>
    public static MessageKind Parse(string? message, out string origin, out long version, out string keyOrToken)
    {
        origin = keyOrToken = string.Empty;
        version = 0;
        if (message is null)
        {
            return MessageKind.Malformed;
        }

        var isInvalidation = message.StartsWith(InvalidationTag, StringComparison.Ordinal);
        if (!isInvalidation && !message.StartsWith(ProbeTag, StringComparison.Ordinal))
        {
            return MessageKind.Malformed;
        }

        var rest = message.AsSpan(InvalidationTag.Length);
        var bar = rest.IndexOf('|');
        if (bar <= 0)
        {
            return MessageKind.Malformed;
        }

        origin = rest[..bar].ToString();
        rest = rest[(bar + 1)..];
        if (!isInvalidation)
        {
            keyOrToken = rest.ToString();
            return keyOrToken.Length == 0 ? MessageKind.Malformed : MessageKind.Probe;
        }

        bar = rest.IndexOf('|');
        if (bar <= 0 || !long.TryParse(rest[..bar], NumberStyles.None, CultureInfo.InvariantCulture, out version))
        {
            return MessageKind.Malformed;
        }

        keyOrToken = rest[(bar + 1)..].ToString();
        return MessageKind.Invalidation;
    }
}

/// <summary>What a message on the invalidation channel is.</summary>
internal enum MessageKind
{
    Malformed,
    Invalidation,
    Probe,
}
