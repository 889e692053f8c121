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
    private const string Suffix = ":cachee-holders";

    /// <summary>The registry key of the entry stored at <paramref name="prefix"/> + <paramref name="key"/>.</summary>
    public static RedisKey For(string? prefix, string key)
    {
        var entryKey = (prefix ?? string.Empty) + key;
        if (HasHashTag(entryKey))
        {
            return entryKey + Suffix;
        }

        var tag = HashSlot.TagFor(HashSlot.Of(entryKey));
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

    private static bool HasHashTag(string key)
    {
        var open = key.IndexOf('{', StringComparison.Ordinal);
        return open >= 0 && key.IndexOf('}', open + 1) > open + 1;
    }
}
