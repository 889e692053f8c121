using Cachee.Sessions.L1;



namespace Cachee.Sessions.Tests;

/// <summary>CLOCK eviction and frequency admission on their own, over a few stripes filled by hand.</summary>
public sealed class L1EvictionPolicyTests
{
    private const int StripeCount = 4;
    private readonly L1Stripe[] _stripes;
    private int _evictions;

    public L1EvictionPolicyTests()
    {
        var tables = new L1Slot[StripeCount][];
        _stripes = [.. Enumerable.Range(0, StripeCount).Select(i => new L1Stripe(tables, i))];
    }

    [Fact]
    public void OverTheEntryLimit_EvictsUntilWithin_AndReportsEachEviction()
    {
        var (policy, occupancy) = Policy(maxBytes: 1 << 20, maxEntries: 10);
        for (var i = 0; i < 15; i++)
        {
            Hold(occupancy, $"k{i}", 10);
        }

        policy.EvictWhileOverLimits();
        Assert.Equal(10, occupancy.Count);
        Assert.Equal(100, occupancy.Bytes);
        Assert.Equal(5, _evictions);
    }

    [Fact]
    public void OverTheByteLimit_EvictsUntilWithin()
    {
        var (policy, occupancy) = Policy(maxBytes: 1_000, maxEntries: 100);
        for (var i = 0; i < 12; i++)
        {
            Hold(occupancy, $"k{i}", 100);
        }

        policy.EvictWhileOverLimits();
        Assert.True(occupancy.Bytes <= 1_000, $"{occupancy.Bytes} bytes held");
        Assert.Equal(10, occupancy.Count);
    }

    [Fact]
    public void EntriesHitSinceTheHandPassed_GetASecondChance()
    {
        var (policy, occupancy) = Policy(maxBytes: 1 << 20, maxEntries: 8);
        for (var i = 0; i < 8; i++)
        {
            Hold(occupancy, $"hot{i}", 1, accessed: true);
        }

        Hold(occupancy, "cold", 1);
        policy.EvictWhileOverLimits();
        Assert.False(Holds("cold"));
        Assert.All(Enumerable.Range(0, 8), i => Assert.True(Holds($"hot{i}")));
    }

    [Fact]
    public void WithRoom_EveryCopyIsAdmitted()
    {
        var (policy, occupancy) = Policy(maxBytes: 1 << 20, maxEntries: 100);
        Assert.All(Enumerable.Range(0, 50), i => Assert.True(policy.Admit(StripeOf($"k{i}"), Ticket($"k{i}"), 10)));
        Assert.Equal(0, occupancy.Count); // admission does not store
    }

    [Fact]
    public void WhenFull_AOneOffKeyLosesToThePopularVictim_AFrequentKeyWins_AndAHeldKeyIsAlwaysAdmitted()
    {
        var (policy, occupancy) = Policy(maxBytes: 1 << 20, maxEntries: 1);
        Hold(occupancy, "popular", 1);
        for (var i = 0; i < 5; i++)
        {
            Assert.True(policy.Admit(StripeOf("popular"), Ticket("popular"), 1)); // held: admitted, and counted
        }

        Assert.False(policy.Admit(StripeOf("one-off"), Ticket("one-off"), 1));
        for (var i = 0; i < 5; i++)
        {
            _ = policy.Admit(StripeOf("rising"), Ticket("rising"), 1);
        }

        Assert.True(policy.Admit(StripeOf("rising"), Ticket("rising"), 1)); // now asked for more often than the victim
    }

    private (L1EvictionPolicy Policy, L1Occupancy Occupancy) Policy(long maxBytes, long maxEntries)
    {
        var occupancy = new L1Occupancy(maxBytes, maxEntries);
        return (new L1EvictionPolicy(_stripes, occupancy, () => _evictions++), occupancy);
    }

    private void Hold(L1Occupancy occupancy, string key, int size, bool accessed = false)
    {
        var stripe = StripeOf(key);
        lock (stripe.Gate)
        {
            var replaced = stripe.Put(new L1Entry(key, new byte[size], 1, 1, long.MaxValue), L1Store.Hash(key), out var added);
            occupancy.Stored(size, replaced, added);
            stripe.At(stripe.Find(key, L1Store.Hash(key))).Accessed = accessed ? (byte)1 : (byte)0;
        }
    }

    private bool Holds(string key)
    {
        var stripe = StripeOf(key);
        lock (stripe.Gate)
        {
            return stripe.Find(key, L1Store.Hash(key)) >= 0;
        }
    }

    private L1Stripe StripeOf(string key) => _stripes[(int)(L1Store.Hash(key) & (StripeCount - 1))];

    private static L1Ticket Ticket(string key) => new(key, L1Store.Hash(key), 0, 1);
}
