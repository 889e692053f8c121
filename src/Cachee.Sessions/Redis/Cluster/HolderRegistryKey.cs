using System.Text;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis.Cluster;

/// <summary>
/// Names the holder registry of an entry: a set that must live in the entry's Redis Cluster slot (a script may touch only
/// keys of one slot), and must not be mistaken for an entry. An entry key with a hash tag (<c>{…}</c>) lends it: the registry
/// is the entry key plus a suffix. Any other entry key is hashed whole, so the registry carries a tag chosen to hash to the
/// same slot, after the instance prefix when that has no brace of its own (so ACL key patterns on the prefix cover it).
/// </summary>
internal static class HolderRegistryKey
{
    private const int Slots = 16384;
    private const string Suffix = ":cachee-holders";
    private static readonly Lazy<string[]> TagsBySlot = new(BuildTags);

    /// <summary>The registry key of the entry stored at <paramref name="prefix"/> + <paramref name="key"/>.</summary>
    public static RedisKey For(string? prefix, string key)
    {
        var entryKey = (prefix ?? string.Empty) + key;
        if (HasHashTag(entryKey))
        {
            return entryKey + Suffix;
        }

        var tag = "{" + TagsBySlot.Value[SlotOf(Encoding.UTF8.GetBytes(entryKey))] + "}";
        return string.IsNullOrEmpty(prefix) || prefix.Contains('{', StringComparison.Ordinal)
            ? tag + entryKey + Suffix
            : prefix + tag + key + Suffix;
    }

    /// <summary>
    /// A key in the same slot as the entry at <paramref name="prefix"/> + <paramref name="key"/> (and under the instance
    /// prefix), for a large value uploaded ahead of the write that moves it into the entry; <paramref name="unique"/> tells
    /// concurrent writes apart.
    /// </summary>
    public static RedisKey StagingFor(string? prefix, string key, string unique) => For(prefix, key).Append(":staged:" + unique);

    /// <summary>The cluster slot of a key, as Redis computes it (CRC16 of its hash tag, or of the whole key).</summary>
    public static int SlotOf(string key) => SlotOf(Encoding.UTF8.GetBytes(key));

    /// <summary>A hash tag (with its braces) that puts a key or a sharded channel in <paramref name="slot"/>.</summary>
    public static string TagFor(int slot) => "{" + TagsBySlot.Value[slot] + "}";

    private static int SlotOf(ReadOnlySpan<byte> key)
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

        return Crc16(key) % Slots;
    }

    private static bool HasHashTag(string key)
    {
        var open = key.IndexOf('{', StringComparison.Ordinal);
        return open >= 0 && key.IndexOf('}', open + 1) > open + 1;
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
        var tags = new string[Slots];
        var found = 0;
        for (var n = 0; found < Slots; n++)
        {
            var text = n.ToString(System.Globalization.CultureInfo.InvariantCulture);
            ref var tag = ref tags[Crc16(Encoding.ASCII.GetBytes(text)) % Slots];
            if (tag is null)
            {
                tag = text;
                found++;
            }
        }

        return tags;
    }
}
