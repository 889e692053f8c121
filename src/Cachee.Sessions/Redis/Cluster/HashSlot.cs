using System.Text;

namespace Cachee.Sessions.Redis.Cluster;

/// <summary>The Redis Cluster slot of a key or sharded channel, and hash tags that put a name in a chosen slot.</summary>
internal static class HashSlot
{
    /// <summary>How many slots a Redis Cluster has.</summary>
    public const int Count = 16384;

    private static readonly Lazy<string[]> TagsBySlot = new(BuildTags);

    /// <summary>The cluster slot of a key, as Redis computes it (CRC16 of its hash tag, or of the whole key).</summary>
    public static int Of(string key) => Of(Encoding.UTF8.GetBytes(key));

    /// <summary>A hash tag (with its braces) that puts a key or a sharded channel in <paramref name="slot"/>.</summary>
    public static string TagFor(int slot) => "{" + TagsBySlot.Value[slot] + "}";

    private static int Of(ReadOnlySpan<byte> key)
    {
        var open = key.IndexOf((byte)'{');
        if (open >= 0)
        {
            var close = key[(open + 1)..].IndexOf((byte)'}');
            if (close > 0)
            {
                key = key.Slice(open + 1, close);
            }
        }

        return Crc16(key) % Count;
    }

    // CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with.
    private static int Crc16(ReadOnlySpan<byte> bytes)
    {
        var crc = 0;
        foreach (var b in bytes)
        {
            crc ^= b << 8;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
            }
        }

        return crc & 0xFFFF;
    }

    // For every slot, the shortest decimal number that hashes to it (found once, in a few milliseconds).
    private static string[] BuildTags()
    {
        var tags = new string[Count];
        var found = 0;
        for (var n = 0; found < Count; n++)
        {
            var text = n.ToString(System.Globalization.CultureInfo.InvariantCulture);
            ref var tag = ref tags[Crc16(Encoding.ASCII.GetBytes(text)) % Count];
            if (tag is null)
            {
                tag = text;
                found++;
            }
        }

        return tags;
    }
}
