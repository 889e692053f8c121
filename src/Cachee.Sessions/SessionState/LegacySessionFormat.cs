using System.Buffers.Binary;
using System.Text;

namespace Cachee.Sessions.SessionState;

/// <summary>
/// The format ASP.NET Core's <c>DistributedSession</c> stores a whole session in (revision 2): a revision byte, a 3-byte entry
/// count, the 16-byte id, then per entry a 2-byte key length, the key's UTF-8 bytes, a 4-byte value length and the value,
/// big-endian. Cachee reads it to take over sessions of the old stack and writes it in <see cref="SessionFormat.DistributedSession"/>.
/// </summary>
internal static class LegacySessionFormat
{
    private const byte Revision = 2;
    private const int MaxEntries = 0xFFFFFF;

    /// <summary>The id and entries of a stored session, in stored order.</summary>
    /// <exception cref="FormatException">The bytes are not a session of this revision (the old stack then starts it anew too).</exception>
    public static (byte[] Id, List<KeyValuePair<string, byte[]>> Entries) Parse(byte[] bytes)
    {
        var span = bytes.AsSpan();
        if (span.Length < 4 + SessionIndex.IdLength || span[0] != Revision)
        {
            throw new FormatException("Not a DistributedSession value of revision 2.");
        }

        var count = SessionIndex.ReadUInt24(span[1..]);
        var id = span.Slice(4, SessionIndex.IdLength).ToArray();
        var rest = span[(4 + SessionIndex.IdLength)..];
        var entries = new List<KeyValuePair<string, byte[]>>(Math.Min(count, 1024));
        for (var i = 0; i < count; i++)
        {
            var keyLength = rest.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(rest) : throw Truncated();
            var afterKey = 2 + keyLength;
            if (rest.Length < afterKey + 4)
            {
                throw Truncated();
            }

            var key = SessionIndex.Decode(rest.Slice(2, keyLength));
            var valueLength = BinaryPrimitives.ReadInt32BigEndian(rest[afterKey..]);
            if (valueLength < 0 || rest.Length - afterKey - 4 < valueLength)
            {
                throw Truncated();
            }

            entries.Add(new(key, rest.Slice(afterKey + 4, valueLength).ToArray()));
            rest = rest[(afterKey + 4 + valueLength)..];
        }

        return (id, entries);
    }

    /// <summary>A session in this format.</summary>
    public static byte[] Write(byte[] id, IReadOnlyCollection<KeyValuePair<string, byte[]>> entries)
    {
        if (entries.Count > MaxEntries)
        {
            throw new InvalidOperationException($"A session in DistributedSession's format holds at most {MaxEntries} keys.");
        }

        long length = 4 + SessionIndex.IdLength;
        foreach (var (key, value) in entries)
        {
            length += 2 + Encoding.UTF8.GetByteCount(key) + 4 + value.Length;
        }

        var bytes = new byte[checked((int)length)];
        bytes[0] = Revision;
        SessionIndex.WriteUInt24(bytes.AsSpan(1), entries.Count);
        id.CopyTo(bytes, 4);
        var at = 4 + SessionIndex.IdLength;
        foreach (var (key, value) in entries)
        {
            var written = Encoding.UTF8.GetBytes(key, bytes.AsSpan(at + 2));
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(at), checked((ushort)written));
            at += 2 + written;
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(at), value.Length);
            value.CopyTo(bytes, at + 4);
            at += 4 + value.Length;
        }

        return bytes;
    }

    private static FormatException Truncated() => new("A DistributedSession value ends before its last entry.");
}
