using System.Text;

namespace Cachee.Sessions.SessionState;

/// <summary>
/// Where a session lives in the cache. Key by key: an index (the session's id and key names) and one entry per session key,
/// all named with the session key as their Redis hash tag, so that on a cluster they share a slot. In
/// <c>DistributedSession</c>'s format: one entry named by the session key itself, as ASP.NET Core names it.
/// </summary>
internal sealed class SessionKeys
{
    private readonly string _tagged;

    public SessionKeys(string sessionKey)
    {
        Legacy = sessionKey;
        _tagged = "{" + Tag(sessionKey) + "}";
        Index = _tagged + "#";
    }

    /// <summary>The entry of the whole session in <c>DistributedSession</c>'s format.</summary>
    public string Legacy { get; }

    /// <summary>The entry of the session's index.</summary>
    public string Index { get; }

    /// <summary>The entry of one session key's value.</summary>
    public string Value(string name) => _tagged + "=" + name;

    // Session keys are the middleware's GUIDs; any other key with a brace (which would end the hash tag early and let two
    // sessions' names meet) or with the escape mark is spelled in hex, so that distinct session keys never share a name.
    private static string Tag(string sessionKey) =>
        sessionKey.AsSpan().IndexOfAny('{', '}') < 0 && !sessionKey.StartsWith('~')
            ? sessionKey
            : "~" + Convert.ToHexString(Encoding.UTF8.GetBytes(sessionKey));
}
