using Cachee.Sessions.L2;


namespace Cachee.Sessions.Payload;

/// <summary>
/// What a value becomes in an entry's <c>data</c> field, and back: compressed (<see cref="PayloadCompression"/>) and then
/// encrypted (<see cref="PayloadEncryption"/>) as the options say, with the entry's <c>enc</c> field naming the steps taken
/// (<c>""</c>, <c>lz4</c>, <c>aes256gcm</c> or <c>lz4+aes256gcm</c>). Reading follows the field, whatever this instance
/// writes, so entries written before an option changed stay readable; only <see cref="CacheeOptions.RequireEncryptedValues"/>
/// refuses entries that are not encrypted.
/// </summary>
internal sealed class PayloadCodec(int? compressAbove, PayloadEncryption? encryption, bool encryptWrites, bool requireEncrypted)
{
    private const string EncryptedAfterLz4 = PayloadCompression.Lz4 + "+" + PayloadEncryption.Marker;

    /// <summary>The codec of <paramref name="options"/>.</summary>
    public static PayloadCodec For(CacheeOptions options)
    {
        var ring = options.EncryptionKeyRing
            ?? (options.EncryptionKeys is { Count: > 0 } keys ? new ConfiguredKeyRing(keys, options.EncryptionActiveKeyId) : null);
        return new PayloadCodec(
            options.CompressValues ? options.CompressionThreshold : null, ring is null ? null : new PayloadEncryption(ring),
            options.EncryptValues, options.RequireEncryptedValues);
    }

    /// <summary>The payload to store for <paramref name="value"/> in the entry at <paramref name="redisKey"/>, and its <c>enc</c> marking.</summary>
    public (byte[] Payload, string Encoding) Encode(string redisKey, byte[] value)
    {
        var (payload, encoding) = PayloadCompression.Encode(value, compressAbove);
        if (!encryptWrites)
        {
            return (payload, encoding);
        }

        var marking = encoding.Length == 0 ? PayloadEncryption.Marker : EncryptedAfterLz4;
        return (encryption!.Seal(payload, redisKey, marking), marking);
    }

    /// <summary>The value a payload read from the entry at <paramref name="redisKey"/> holds; throws <see cref="L2PayloadException"/> when it cannot be read.</summary>
    public byte[] Decode(string redisKey, byte[] payload, string? encoding)
    {
        var inner = encoding switch
        {
            PayloadEncryption.Marker => string.Empty,
            EncryptedAfterLz4 => PayloadCompression.Lz4,
            _ => null,
        };
        if (inner is null)
        {
            return requireEncrypted
                ? throw new L2PayloadException("The entry is not encrypted, and RequireEncryptedValues refuses such entries.")
                : PayloadCompression.Decode(payload, encoding);
        }

        var opened = (encryption ?? throw new L2PayloadException("The entry is encrypted, and this instance has no encryption keys."))
            .Open(payload, redisKey, encoding!);
        return PayloadCompression.Decode(opened, inner);
    }
}
