namespace Cachee.Sessions;

/// <summary>How <c>AddCacheeSessions</c> stores a session in Redis (see <see cref="CacheeOptions.SessionFormat"/>).</summary>
public enum SessionFormat
{
    /// <summary>
    /// Key by key (the default): each session key is an entry of its own beside a small list of the session's key names, all in
    /// the session's cluster slot. A commit writes only the keys the request set or removed, an instance drops only the keys
    /// that changed, and a read touches only the key it asks for. Sessions in the other format are read, and rewritten in
    /// this one at their next change.
    /// </summary>
    PerKey = 0,

    /// <summary>
    /// One value per session, in the format of ASP.NET Core's <c>DistributedSession</c>, which instances still running
    /// <c>AddStackExchangeRedisCache</c> + <c>AddSession</c> read and write. For a rolling migration: run it until no old
    /// instance remains, then switch to <see cref="PerKey"/>. Sessions stored key by key are read, and rewritten in this
    /// format at their next change.
    /// </summary>
    DistributedSession = 1,
}
