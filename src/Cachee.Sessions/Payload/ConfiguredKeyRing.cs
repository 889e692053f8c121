namespace Cachee.Sessions.Payload;

/// <summary>
/// The key ring of <see cref="CacheeOptions.EncryptionKeys"/> (checked at start-up by the options validator): keys decoded
/// once, the active one named by <see cref="CacheeOptions.EncryptionActiveKeyId"/> or the last listed.
/// </summary>
internal sealed class ConfiguredKeyRing : IEncryptionKeyRing
{
    private readonly Dictionary<string, ReadOnlyMemory<byte>> _keys;

    public ConfiguredKeyRing(IEnumerable<CacheeEncryptionKey> keys, string? activeKeyId)
    {
        _keys = keys.ToDictionary(key => key.Id, key => (ReadOnlyMemory<byte>)Convert.FromBase64String(key.Key), StringComparer.Ordinal);
        ActiveKeyId = activeKeyId ?? keys.Last().Id;
    }

    public string ActiveKeyId { get; }

    public bool TryGetKey(string keyId, out ReadOnlyMemory<byte> key) => _keys.TryGetValue(keyId, out key);
}
