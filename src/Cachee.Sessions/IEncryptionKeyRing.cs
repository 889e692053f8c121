namespace Cachee.Sessions;

/// <summary>
/// The keys Cachee encrypts values with (<see cref="CacheeOptions.EncryptValues"/>), for applications that keep them in a
/// vault or rotate them in code; set it as <see cref="CacheeOptions.EncryptionKeyRing"/>. Keys from configuration
/// (<see cref="CacheeOptions.EncryptionKeys"/>) need no implementation. Both members are called on every write and on every
/// read from Redis of an encrypted entry, so they should answer from memory.
/// </summary>
public interface IEncryptionKeyRing
{
    /// <summary>The id of the key new values are encrypted with; it must be in the ring.</summary>
    string ActiveKeyId { get; }

    /// <summary>
    /// The AES-256 key (32 bytes) with the id <paramref name="keyId"/>, when the ring still holds it. A value encrypted under a
    /// key the ring no longer holds (retired) is a logged miss.
    /// </summary>
    bool TryGetKey(string keyId, out ReadOnlyMemory<byte> key);
}
