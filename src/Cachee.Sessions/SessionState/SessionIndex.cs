using System.Buffers.Binary;
using System.Text;

namespace Cachee.Sessions.SessionState;

/// <summary>
/// A session's index in its key-by-key layout: its id (the 16 bytes <c>ISession.Id</c> is made of) and its key names, in the
/// order they were added. Values are entries of their own. Format: a revision byte (1), the id, a 3-byte entry count, then
/// per name a 2-byte length and its UTF-8 bytes, big-endian as in <c>DistributedSession</c>'s format.
/// </summary>
internal sealed record SessionIndex(byte[] Id, IReadOnlyList<string> Names)
{
    public const int IdLength = 16;
    private const byte Revision = 1;
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public byte[] ToBytes()
    {
        var length = 1 + IdLength + 3;
        foreach (var name in Names)
        {
            length += 2 + Encoding.UTF8.GetByteCount(name);
        }

        var bytes = new byte[length];
        bytes[0] = Revision;
        Id.CopyTo(bytes, 1);
        var at = 1 + IdLength;
        WriteUInt24(bytes.AsSpan(at), Names.Count);
        at += 3;
        foreach (var name in Names)
        {
            var written = Encoding.UTF8.GetBytes(name, bytes.AsSpan(at + 2));
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(at), checked((ushort)written));
            at += 2 + written;
        }

        return bytes;
    }

    /// <summary>Reads an index.</summary>
    /// <exception cref="FormatException">The bytes are not an index of this revision.</exception>
    public static SessionIndex Parse(byte[] bytes)
    {
        var span = bytes.AsSpan();
        if (span.Length < 1 + IdLength + 3 || span[0] != Revision)
        {
            throw new FormatException("Not a session index of a known revision.");
        }

        var id = span.Slice(1, IdLength).ToArray();
        var count = ReadUInt24(span[(1 + IdLength)..]);
        var rest = span[(1 + IdLength + 3)..];
        var names = new List<string>(Math.Min(count, 1024));
        for (var i = 0; i < count; i++)
        {
            if (rest.Length < 2 || rest.Length < 2 + BinaryPrimitives.ReadUInt16BigEndian(rest))
            {
                throw new FormatException("A session index ends before its last key name.");
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(rest);
            names.Add(Decode(rest.Slice(2, length)));
            rest = rest[(2 + length)..];
        }

        return rest.IsEmpty ? new SessionIndex(id, names) : throw new FormatException("A session index has bytes after its last key name.");
    }

    internal static void WriteUInt24(Span<byte> to, int value)
    {
        to[0] = (byte)(value >> 16);
        to[1] = (byte)(value >> 8);
        to[2] = (byte)value;
    }

    internal static int ReadUInt24(ReadOnlySpan<byte> from) => (from[0] << 16) | (from[1] << 8) | from[2];

    internal static string Decode(ReadOnlySpan<byte> utf8)
    {
        try
        {
            return Strict.GetString(utf8);
        }
        catch (DecoderFallbackException ex)
        {
            throw new FormatException("A session key name is not UTF-8.", ex);
        }
    }
}
