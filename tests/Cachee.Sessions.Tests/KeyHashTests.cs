using Cachee.Sessions.L1;



namespace Cachee.Sessions.Tests;

public sealed class KeyHashTests
{
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.";

    public static TheoryData<string> Hashes => new() { "aes", "portable" };

    [Fact]
    public void OnThisMachine_TheAesConstructionIsInUse()
    {
        // CI and the benchmarks run on x86 machines with AES instructions: the fast path is the one tested and measured.
        Assert.True(KeyHash.UsesAes);
    }

    [Theory]
    [MemberData(nameof(Hashes))]
    public void TheHashDependsOnTheCharactersOnly_NotOnTheStringInstanceOrWhatLiesAfterThem(string kind)
    {
        var hash = Pick(kind);
        var random = new Random(7);
        var text = RandomText(random, 300);
        var buffer = new char[text.Length + 64];
        for (var length = 0; length <= text.Length; length++)
        {
            var expected = hash(new string(text.AsSpan(0, length)));
            Assert.Equal(expected, hash(new string(text.AsSpan(0, length))));
            for (var copy = 0; copy < 4; copy++)
            {
                // The same characters followed by different ones: only the key's own characters may count.
                text.AsSpan(0, length).CopyTo(buffer);
                RandomText(random, 64).AsSpan().CopyTo(buffer.AsSpan(length));
                Assert.Equal(expected, hash(buffer.AsSpan(0, length)));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Hashes))]
    public void KeysThatDifferInOneCharacter_OrInLength_OrInTheOrderOfTheirBlocks_HashApart(string kind)
    {
        var hash = Pick(kind);
        var random = new Random(11);
        var seen = new HashSet<ulong>();
        var keys = 0;
        foreach (var length in new[] { 1, 3, 7, 8, 9, 15, 16, 17, 24, 32, 33, 36, 40, 48, 49, 64, 65, 100, 200 })
        {
            var key = RandomText(random, length);
            Assert.True(seen.Add(hash(key)));
            keys++;
            for (var position = 0; position < length; position++)
            {
                foreach (var replacement in Alphabet)
                {
                    if (replacement != key[position])
                    {
                        var changed = key[..position] + replacement + key[(position + 1)..];
                        Assert.True(seen.Add(hash(changed)), $"collision at length {length}, position {position}");
                        keys++;
                    }
                }
            }
        }

        // Same blocks, other order: 8-character (16-byte) blocks swapped.
        var blocks = RandomText(random, 40);
        var swapped = blocks[8..16] + blocks[..8] + blocks[16..];
        Assert.NotEqual(hash(blocks), hash(swapped));

        // A key and the same key with a trailing NUL character.
        Assert.NotEqual(hash("session"), hash("session\0"));
        Assert.NotEqual(hash(string.Empty), hash("\0"));
        Assert.True(keys > 10_000);
    }

    [Theory]
    [MemberData(nameof(Hashes))]
    public void SequentialSessionKeys_SpreadEvenlyOverStripesAndBuckets(string kind)
    {
        var hash = Pick(kind);
        const int Keys = 131_072;
        var stripes = new int[64];
        var buckets = new int[4096];
        for (var i = 0; i < Keys; i++)
        {
            var value = hash($"session:{i:D8}:3f2a9c1e-7b4d-4e1a-9c2b");
            stripes[value & 63]++;
            buckets[(value >> 24) & 4095]++;
        }

        // Expected 2,048 per stripe and 32 per bucket; a uniform spread stays well inside these bounds.
        Assert.InRange(stripes.Min(), 1_800, 2_300);
        Assert.InRange(stripes.Max(), 1_800, 2_300);
        Assert.InRange(buckets.Min(), 8, 32);
        Assert.InRange(buckets.Max(), 32, 64);
    }

    private delegate ulong HashOf(ReadOnlySpan<char> key);

    private static HashOf Pick(string kind) => kind == "aes" ? KeyHash.Of : KeyHash.Portable;

    private static string RandomText(Random random, int length) =>
        string.Create(length, random, static (span, r) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = Alphabet[r.Next(Alphabet.Length)];
            }
        });
}
