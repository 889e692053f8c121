using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Cachee.Sessions.L2;

namespace Cachee.Sessions.Payload;

/// <summary>
/// AES-256-GCM encryption of stored values (<see cref="CacheeOptions.EncryptValues"/>). A payload is
/// <c>[1: format 1][1: id length n][n: key id][12: nonce][16: tag][ciphertext]</c>. The authenticated data is the header
/// (format and key id), the entry's Redis key name and the <c>enc</c> marking, so a payload moved to another key, relabelled
/// with another key id, or re-marked does not decrypt. Nonces are random (96 bits): one key should encrypt fewer than 2^32
/// values, which rotation keeps far away. Raw <see cref="AesGcm"/> rather than ASP.NET Core Data Protection: Data
/// Protection's default is AES-256-CBC with HMAC-SHA256 (slower, and 60 bytes larger per value), binding a Redis key name
/// would need a protector per session key, and its key ring lives in this same Redis by default (see
/// <see cref="CacheeOptions.ShareDataProtectionKeys"/>), so a Redis compromise would hand over the keys with the data.
/// </summary>
internal sealed class PayloadEncryption(IEncryptionKeyRing ring)
{
    /// <summary>The <c>enc</c> marking of an encrypted payload (after <c>lz4+</c> when it was compressed first).</summary>
    public const string Marker = "aes256gcm";

    private const byte Format = 1;
    private const int NonceBytes = 12;
    private const int TagBytes = 16;
    private const int KeyBytes = 32;

    /// <summary>Encrypts <paramref name="plaintext"/> for the entry at <paramref name="redisKey"/>, marked <paramref name="encoding"/>.</summary>
    public byte[] Seal(ReadOnlySpan<byte> plaintext, string redisKey, string encoding)
    {
        var keyId = ring.ActiveKeyId;
        if (!ring.TryGetKey(keyId, out var key) || key.Length != KeyBytes)
        {
            throw new InvalidOperationException($"The encryption key ring has no {KeyBytes}-byte key with its active id '{keyId}'.");
        }

        var idBytes = Encoding.UTF8.GetByteCount(keyId);
        var headerBytes = 2 + idBytes;
        // Every byte is written below: no need to zero a megabyte first.
        var payload = GC.AllocateUninitializedArray<byte>(headerBytes + NonceBytes + TagBytes + plaintext.Length);
        payload[0] = Format;
        payload[1] = checked((byte)idBytes);
        _ = Encoding.UTF8.GetBytes(keyId, payload.AsSpan(2));
        var nonce = payload.AsSpan(headerBytes, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key.Span, TagBytes);
        aes.Encrypt(
            nonce, plaintext, payload.AsSpan(headerBytes + NonceBytes + TagBytes), payload.AsSpan(headerBytes + NonceBytes, TagBytes),
            AssociatedData(payload.AsSpan(0, headerBytes), redisKey, encoding));
        return payload;
    }

    /// <summary>
    /// Decrypts a payload read from the entry at <paramref name="redisKey"/>, marked <paramref name="encoding"/>; throws
    /// <see cref="L2PayloadException"/> (a miss) when it is malformed, under a key the ring does not hold, or does not
    /// authenticate.
    /// </summary>
    public byte[] Open(byte[] payload, string redisKey, string encoding)
    {
        if (payload.Length < 2 || payload[0] != Format || payload.Length < 2 + payload[1] + NonceBytes + TagBytes || payload[1] == 0)
        {
            throw new L2PayloadException("The encrypted payload is malformed.");
        }

        var headerBytes = 2 + payload[1];
        string keyId;
        try
        {
            keyId = new UTF8Encoding(false, true).GetString(payload, 2, payload[1]);
        }
        catch (DecoderFallbackException)
        {
            throw new L2PayloadException("The encrypted payload is malformed.");
        }

        if (!ring.TryGetKey(keyId, out var key) || key.Length != KeyBytes)
        {
            throw new L2PayloadException($"The payload is encrypted under key '{Printable(keyId)}', which the key ring does not hold (retired, or never given to this instance).");
        }

        var plaintext = GC.AllocateUninitializedArray<byte>(payload.Length - headerBytes - NonceBytes - TagBytes);
        try
        {
            using var aes = new AesGcm(key.Span, TagBytes);
            aes.Decrypt(
                payload.AsSpan(headerBytes, NonceBytes), payload.AsSpan(headerBytes + NonceBytes + TagBytes),
                payload.AsSpan(headerBytes + NonceBytes, TagBytes), plaintext, AssociatedData(payload.AsSpan(0, headerBytes), redisKey, encoding));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new L2PayloadException($"The payload does not authenticate under key '{Printable(keyId)}': it was altered, encrypted with another key of that id, or copied from another entry.");
        }

        return plaintext;
    }

    // header || u32 length of the key name || key name || encoding
    private static byte[] AssociatedData(ReadOnlySpan<byte> header, string redisKey, string encoding)
    {
        var nameBytes = Encoding.UTF8.GetByteCount(redisKey);
        var data = new byte[header.Length + 4 + nameBytes + Encoding.UTF8.GetByteCount(encoding)];
        header.CopyTo(data);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(header.Length), (uint)nameBytes);
        var written = Encoding.UTF8.GetBytes(redisKey, data.AsSpan(header.Length + 4));
        _ = Encoding.UTF8.GetBytes(encoding, data.AsSpan(header.Length + 4 + written));
        return data;
    }

    // A key id read from Redis goes into log lines: printable ASCII only.
    private static string Printable(string keyId) =>
        keyId.All(c => c is >= ' ' and <= '~') ? keyId : "(unprintable)";
}
