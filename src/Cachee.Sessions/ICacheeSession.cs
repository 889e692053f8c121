using Microsoft.AspNetCore.Http;

namespace Cachee.Sessions;

/// <summary>
/// The session <c>AddCacheeSessions</c> gives each request (<c>HttpContext.Session</c>): an <see cref="ISession"/> whose values
/// can also be read without a copy.
/// </summary>
public interface ICacheeSession : ISession
{
    /// <summary>
    /// Reads a value without copying it: the memory is the instance's shared copy (or this request's own change), valid for as
    /// long as the caller holds it, and must not be written through (for example with <c>MemoryMarshal</c>).
    /// <see cref="ISession.TryGetValue"/> returns a fresh array instead, which the caller may change.
    /// </summary>
    /// <param name="key">The session key.</param>
    /// <param name="value">The value; empty when there is none.</param>
    /// <returns>Whether the session holds <paramref name="key"/>.</returns>
    bool TryGetMemory(string key, out ReadOnlyMemory<byte> value);
}
