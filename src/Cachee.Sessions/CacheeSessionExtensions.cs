using Microsoft.AspNetCore.Http;

namespace Cachee.Sessions;

/// <summary>Reads session values without a copy where the session allows it.</summary>
public static class CacheeSessionExtensions
{
    /// <summary>
    /// Reads a value of <paramref name="session"/>: without a copy from a Cachee session (see
    /// <see cref="ICacheeSession.TryGetMemory"/>), through <see cref="ISession.TryGetValue"/> from any other.
    /// </summary>
    /// <param name="session">The session, usually <c>HttpContext.Session</c>.</param>
    /// <param name="key">The session key.</param>
    /// <param name="value">The value, not to be written through; empty when there is none.</param>
    /// <returns>Whether the session holds <paramref name="key"/>.</returns>
    public static bool TryGetMemory(this ISession session, string key, out ReadOnlyMemory<byte> value)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session is ICacheeSession cachee)
        {
            return cachee.TryGetMemory(key, out value);
        }

        var found = session.TryGetValue(key, out var bytes);
        value = found ? bytes : ReadOnlyMemory<byte>.Empty;
        return found;
    }
}
