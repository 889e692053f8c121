using System.Security.Cryptography;
using System.Text;

namespace Cachee.Sessions.Diagnostics;

/// <summary>
/// A cache key as it appears in logs: a short keyed hash, never the key. Session keys are bearer secrets (whoever has one has
/// the session), so no log line, at any level, carries one. The hash is keyed with a secret made at process start, so that it
/// cannot be reversed by hashing guesses; it tells lines about the same key apart within one process's logs. Computed only
/// when a line is actually written (the logging source generator checks the level first).
/// </summary>
internal readonly struct RedactedKey(string key)
{
    private static readonly byte[] Secret = RandomNumberGenerator.GetBytes(32);

    /// <summary>"key#" and 12 hex digits of HMAC-SHA256(secret, key).</summary>
    public override string ToString()
    {
        Span<byte> mac = stackalloc byte[32];
        _ = HMACSHA256.HashData(Secret, Encoding.UTF8.GetBytes(key ?? string.Empty), mac);
        return "key#" + Convert.ToHexStringLower(mac[..6]);
    }
}
