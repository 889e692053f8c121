using Cachee.Sessions.L1;



namespace Cachee.Sessions.Tests;

public sealed class L1StoreTests
{
    private static L1Store NewStore(long maxBytes = 1 << 20, int maxEntries = 1000, int maxEntryBytes = 1 << 16, Action? onEvicted = null)
    {
        var store = new L1Store(maxBytes, maxEntries, maxEntryBytes, onEvicted ?? (() => { }));
        _ = store.Resume();
        return store;
    }

    private static bool Put(L1Store store, string key, int size, long validUntil = long.MaxValue)
    {
        var ticket = store.BeginRead(key);
        return store.TryInstallRead(ticket, new L1Entry(key, new byte[size], 1, ticket.Epoch, validUntil));
    }

    [Fact]
    public void Install_CountsBytesAndEntries_ReplaceAdjusts()
    {
        var store = NewStore();
        Assert.True(Put(store, "a", 100));
        Assert.True(Put(store, "b", 50));
        Assert.True(Put(store, "a", 10));
        Assert.Equal(2, store.Count);
        Assert.Equal(60, store.Bytes);
    }

    [Fact]
    public void Drop_RemovesTheMatchingCopiesOnly_AndNoReadBegunBeforeInstalls()
    {
        var store = NewStore();
        Assert.True(Put(store, "shard1:a", 10));
        Assert.True(Put(store, "shard2:b", 10));
        var inFlight = store.BeginRead("shard2:c");

        Assert.Equal(1, store.Drop(key => key.StartsWith("shard1:", StringComparison.Ordinal)));

        Assert.False(store.TryPeek("shard1:a", out _));
        Assert.True(store.TryServe("shard2:b", out _)); // same epoch: still served
        Assert.False(store.TryInstallRead(inFlight, new L1Entry("shard2:c", new byte[1], 1, inFlight.Epoch, long.MaxValue)));
        Assert.True(Put(store, "shard2:c", 1));
    }

    [Fact]
    public void EntryOverMaxEntryBytes_IsNotKept()
    {
        var store = NewStore(maxEntryBytes: 100);
        Assert.False(Put(store, "big", 101));
        Assert.True(Put(store, "fits", 100));
        Assert.False(store.TryPeek("big", out _));
    }

    [Fact]
    public void OverByteLimit_EvictsUntilWithin()
    {
        var evictions = 0;
        var installed = 0;
        var store = NewStore(maxBytes: 1000, onEvicted: () => evictions++);
        for (var i = 0; i < 50; i++)
        {
            installed += Put(store, $"k{i}", 100) ? 1 : 0;
        }

        Assert.True(store.Bytes <= 1000);
        Assert.Equal(installed - store.Count, evictions);
    }

    [Fact]
    public void OverEntryLimit_EvictsUntilWithin()
    {
        var store = NewStore(maxEntries: 10);
        for (var i = 0; i < 100; i++)
        {
            _ = Put(store, $"k{i}", 1);
        }

        Assert.Equal(10, store.Count);
    }

    [Fact]
    public void Eviction_PrefersEntriesNotAccessedRecently()
    {
        var store = NewStore(maxEntries: 64);
        for (var i = 0; i < 64; i++)
        {
            _ = Put(store, $"hot{i}", 1);
        }

        // Insert cold keys one at a time, touching every hot key in between as real hits would.
        for (var round = 0; round < 200; round++)
        {
            for (var i = 0; i < 32; i++)
            {
                _ = store.TryServe($"hot{i}", out _); // a hit, as a real read would make
            }

            _ = Put(store, $"cold{round}", 1);
        }

        var hotLeft = Enumerable.Range(0, 32).Count(i => store.TryPeek($"hot{i}", out _));
        Assert.True(hotLeft >= 28, $"only {hotLeft} of 32 hot keys survived");
    }

    [Fact]
    public void WhenFull_AKeyAskedForAgainAndAgainStaysWhileOneOffKeysStreamPast()
    {
        var store = NewStore(maxEntries: 10);
        for (var i = 0; i < 10; i++)
        {
            Assert.True(Put(store, $"first{i}", 1));
        }

        // Plain CLOCK would take every one-off key in (nothing is hit). With admission, once the keys L1 holds have been
        // asked for as often as a one-off key, one-off keys stop getting in; the key asked for every round gets in and stays.
        var oneOffsAdmitted = 0;
        for (var round = 0; round < 100; round++)
        {
            _ = Put(store, "popular", 1);
            oneOffsAdmitted += Put(store, $"once{round}", 1) ? 1 : 0;
        }

        Assert.True(store.TryPeek("popular", out _), "the popular key is held");
        Assert.True(oneOffsAdmitted < 50, $"{oneOffsAdmitted} of 100 one-off keys were admitted");
        Assert.Equal(10, store.Count);
    }

    [Fact]
    public void Invalidate_RemovesOlderCopyOnly()
    {
        var store = NewStore();
        _ = Put(store, "k", 1);
        store.Invalidate("k", version: 1);
        Assert.True(store.TryPeek("k", out _));
        store.Invalidate("k", version: 2);
        Assert.False(store.TryPeek("k", out _));
        Assert.Equal(0, store.Bytes);
    }

    [Fact]
    public void WriteCompletingAfterAnotherWriteBegan_LeavesNoCopy()
    {
        var store = NewStore();
        var first = store.BeginWrite("k");
        var second = store.BeginWrite("k");
        Assert.True(store.CompleteWrite(second, new L1Entry("k", [2], 2, second.Epoch, long.MaxValue)));
        Assert.False(store.CompleteWrite(first, new L1Entry("k", [1], 1, first.Epoch, long.MaxValue)));
        Assert.False(store.TryPeek("k", out _));
    }

    [Fact]
    public void ReadBegunBeforeALocalWriteCompleted_DoesNotInstall()
    {
        var store = NewStore();
        var write = store.BeginWrite("k");
        var read = store.BeginRead("k");
        Assert.True(store.CompleteWrite(write, new L1Entry("k", [2], 2, write.Epoch, long.MaxValue)));
        Assert.False(store.TryInstallRead(read, new L1Entry("k", [1], 1, read.Epoch, long.MaxValue)));
        Assert.True(store.TryPeek("k", out var kept));
        Assert.Equal(2, kept.Version);
    }

    [Fact]
    public void Suspend_StopsServingButKeepsCopiesForStaleReads_ResumeDropsThemAndStartsNewEpoch()
    {
        var store = NewStore();
        var before = store.ServingEpoch;
        _ = Put(store, "k", 10);
        store.Suspend();
        Assert.Equal(0, store.ServingEpoch);
        Assert.Equal(1, store.Count);
        Assert.NotNull(store.TryGetStale("k", 0));
        Assert.False(Put(store, "other", 10));
        Assert.True(store.Resume() > before);
        Assert.Equal(0, store.Count);
        Assert.Null(store.TryGetStale("k", 0));
        Assert.True(Put(store, "k", 10));
    }

    [Fact]
    public void TryGetStale_IgnoresCopiesPastTheirValidity()
    {
        var store = NewStore();
        _ = Put(store, "k", 1, validUntil: 100);
        store.Suspend();
        Assert.NotNull(store.TryGetStale("k", 99));
        Assert.Null(store.TryGetStale("k", 100));
    }

    [Fact]
    public void RemoveExpired_RemovesOnlyExpired()
    {
        var store = NewStore();
        _ = Put(store, "old", 1, validUntil: 100);
        _ = Put(store, "new", 1, validUntil: 300);
        Assert.Equal(1, store.RemoveExpired(200));
        Assert.False(store.TryPeek("old", out _));
        Assert.True(store.TryPeek("new", out _));
    }

    [Fact]
    public async Task ConcurrentWritesAndEvictions_KeepTotalsConsistent()
    {
        var store = NewStore(maxBytes: 10_000, maxEntries: 500);
        await Parallel.ForAsync(0, 20_000, (i, token) =>
        {
            var key = $"k{i % 2000}";
            if (i % 3 == 0)
            {
                store.Invalidate(key, long.MaxValue);
            }
            else
            {
                _ = Put(store, key, i % 50);
            }

            return ValueTask.CompletedTask;
        });

        Assert.True(store.Count <= 500);
        Assert.True(store.Bytes <= 10_000);
        var recount = Enumerable.Range(0, 2000).Select(i => store.TryPeek($"k{i}", out var e) ? (L1Entry?)e : null).Where(e => e is not null).ToList();
        Assert.Equal(store.Count, recount.Count);
        Assert.Equal(store.Bytes, recount.Sum(e => e!.Value.Size));
    }

    [Fact]
    public void ResumeWhileServing_KeepsTheEpochAndTheEntries()
    {
        var store = NewStore();
        var epoch = store.ServingEpoch;
        _ = Put(store, "k", 1);
        Assert.Equal(epoch, store.Resume());
        Assert.True(store.TryPeek("k", out var entry));
        Assert.Equal(epoch, entry.Epoch);
    }
}
