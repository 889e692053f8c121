namespace Cachee.Sessions;

/// <summary>
/// One key of <see cref="CacheeOptions.EncryptionKeys"/>, as configuration binds it (for example
/// <c>"EncryptionKeys": [ { "Id": "2026-11", "Key": "…base64 of 32 random bytes…" } ]</c>).
/// </summary>
public sealed class CacheeEncryptionKey
{
    /// <summary>The key's name, stored with every value encrypted under it: 1 to 64 printable ASCII characters, unique in the ring.</summary>
    public string Id { get; set; } = string.Empty;

    /// <summary>The AES-256 key: 32 random bytes, base64-encoded (for example <c>openssl rand -base64 32</c>). A secret: keep it out of source control.</summary>
    public string Key { get; set; } = string.Empty;
}
