using System.Security.Cryptography;
using System.Text;
using Cachee.Sessions.L2;
using Cachee.Sessions.Payload;

namespace Cachee.Sessions.Tests;

/// <summary>The AES-256-GCM payload format of <see cref="PayloadEncryption"/>, and the codec that composes it with compression.</summary>
public sealed class PayloadEncryptionTests
{
    private static readonly CacheeEncryptionKey First = new() { Id = "k1", Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) };
    private static readonly CacheeEncryptionKey Second = new() { Id = "k2", Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) };

    [Fact]
    public void Sealed_OpensUnderTheSameKeyNameAndMarking_AndHidesThePlaintext()
    {
        var encryption = new PayloadEncryption(new ConfiguredKeyRing([First], null));
        var plaintext = Encoding.UTF8.GetBytes("token=SECRET");

        var sealed1 = encryption.Seal(plaintext, "app:session-1", PayloadEncryption.Marker);
        var sealed2 = encryption.Seal(plaintext, "app:session-1", PayloadEncryption.Marker);

        Assert.Equal(plaintext, encryption.Open(sealed1, "app:session-1", PayloadEncryption.Marker));
        Assert.NotEqual(sealed1, sealed2); // a fresh nonce each time
        Assert.True(sealed1.AsSpan().IndexOf("SECRET"u8) < 0);
        Assert.Equal(2 + 2 + 12 + 16 + plaintext.Length, sealed1.Length);
    }

    [Fact]
    public void AnotherKeyName_AnotherMarking_OrAnyFlippedByte_DoesNotOpen()
    {
        var encryption = new PayloadEncryption(new ConfiguredKeyRing([First], null));
        var payload = encryption.Seal("value"u8, "app:a", PayloadEncryption.Marker);

        Assert.Throws<L2PayloadException>(() => encryption.Open(payload, "app:b", PayloadEncryption.Marker));
        Assert.Throws<L2PayloadException>(() => encryption.Open(payload, "app:a", "lz4+" + PayloadEncryption.Marker));
        for (var i = 0; i < payload.Length; i++)
        {
            var altered = (byte[])payload.Clone();
            altered[i] ^= 0x40;
            Assert.Throws<L2PayloadException>(() => encryption.Open(altered, "app:a", PayloadEncryption.Marker));
        }

        Assert.Throws<L2PayloadException>(() => encryption.Open(payload[..10], "app:a", PayloadEncryption.Marker));
        Assert.Throws<L2PayloadException>(() => encryption.Open([], "app:a", PayloadEncryption.Marker));
    }

    [Fact]
    public void Rotation_WritesUseTheActiveKey_ReadsAcceptEveryKeyInTheRing()
    {
        var old = new PayloadEncryption(new ConfiguredKeyRing([First], null));
        var rotated = new PayloadEncryption(new ConfiguredKeyRing([First, Second], null));
        var retired = new PayloadEncryption(new ConfiguredKeyRing([Second], null));

        var underFirst = old.Seal("v1"u8, "k", PayloadEncryption.Marker);
        var underSecond = rotated.Seal("v2"u8, "k", PayloadEncryption.Marker);

        Assert.Equal("k2", Encoding.UTF8.GetString(underSecond, 2, underSecond[1]));
        Assert.Equal("v1"u8.ToArray(), rotated.Open(underFirst, "k", PayloadEncryption.Marker));
        Assert.Equal("v2"u8.ToArray(), retired.Open(underSecond, "k", PayloadEncryption.Marker));
        var refused = Assert.Throws<L2PayloadException>(() => retired.Open(underFirst, "k", PayloadEncryption.Marker));
        Assert.Contains("'k1'", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Codec_CompressesThenEncrypts_AndReadsEveryMarking()
    {
        var options = new CacheeOptions { Configuration = "localhost", CompressValues = true, EncryptValues = true, EncryptionKeys = [First] };
        var codec = PayloadCodec.For(options);
        var text = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("compressible session text ", 1000)));

        var (payload, encoding) = codec.Encode("app:s", text);

        Assert.Equal("lz4+aes256gcm", encoding);
        Assert.True(payload.Length < text.Length / 4);
        Assert.Equal(text, codec.Decode("app:s", payload, encoding));
        Assert.Equal("plain"u8.ToArray(), codec.Decode("app:s", "plain"u8.ToArray(), null));

        options.RequireEncryptedValues = true;
        Assert.Throws<L2PayloadException>(() => PayloadCodec.For(options).Decode("app:s", "plain"u8.ToArray(), null));
    }
}
