using System.Collections.Concurrent;
using Cachee.Sessions.Invalidation;
using Cachee.Sessions.L2;
using Xunit;

namespace Cachee.Sessions.TestSupport;

/// <summary>
/// What the L2 store and its invalidations do, written once and run against every implementation: the in-memory model of
/// the testing package and a real <c>redis-server</c> (single node and cluster). The model is trusted because it passes the
/// same tests as Redis. Each test uses keys of its own.
/// </summary>
public abstract class L2StoreConformance : IAsyncLifetime
{
    private static readonly EntryExpiration NoExpiry = new(EntryExpiration.None, EntryExpiration.None);
    private readonly string _keyPrefix = $"c{Guid.NewGuid():N}-";

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual Task DisposeAsync() => Task.CompletedTask;

    /// <summary>A cache instance's view of the store under test: its store, started bus, and what the bus heard.</summary>
    private protected abstract Task<Node> ConnectAsync(string origin);

    /// <summary>Writes an entry's data field as a client other than Cachee would (<c>HSET</c>).</summary>
    private protected abstract Task SetFromOtherClientAsync(string key, byte[] value);

    /// <summary>How many instances the holder registry of <paramref name="key"/> names.</summary>
    private protected abstract Task<int> HolderCountAsync(string key);

    /// <summary>Now, in UTC ticks, by the clock the store expires entries on.</summary>
    private protected abstract long NowTicks { get; }

    /// <summary>
    /// Lets <paramref name="span"/> pass on the store's clock and checks <paramref name="condition"/>: a fake clock is
    /// advanced and the condition must hold at once; a real server is polled until it holds (five seconds at most).
    /// </summary>
    private protected abstract Task AfterAsync(TimeSpan span, Func<Task<bool>> condition, string what);

    [Fact]
    public async Task Set_AssignsVersionsThatRedisIncrements()
    {
        var a = await ConnectAsync("a");
        Assert.Equal(1, (await SetAsync(a, "k", [1])).Version);
        Assert.Equal(2, (await SetAsync(a, "k", [2])).Version);
    }

    [Fact]
    public async Task Get_ReturnsDataVersionExpirationAndTimeToLive()
    {
        var a = await ConnectAsync("a");
        var expiration = new EntryExpiration(NowTicks + TimeSpan.FromHours(1).Ticks, TimeSpan.FromMinutes(20).Ticks);
        _ = await SetAsync(a, "k", [1, 2, 3], expiration);

        var entry = await GetAsync(a, "k", register: false);

        Assert.NotNull(entry);
        Assert.Equal([1, 2, 3], entry.Value.Data);
        Assert.Equal(1, entry.Value.Version);
        Assert.Equal(expiration, entry.Value.Expiration);
        Assert.InRange(entry.Value.Ttl.Milliseconds, (long)TimeSpan.FromMinutes(19).TotalMilliseconds, (long)TimeSpan.FromMinutes(20).TotalMilliseconds);
    }

    [Fact]
    public async Task Get_OfAMissingKey_IsNull_AndRegistersNobody()
    {
        var a = await ConnectAsync("a");
        Assert.Null(await GetAsync(a, "absent", register: true));
        Assert.Equal(0, await HolderCountAsync(Key("absent")));
    }

    [Fact]
    public async Task EntryWithoutExpiry_HasNoTimeToLive()
    {
        var a = await ConnectAsync("a");
        _ = await SetAsync(a, "k", [1]);
        Assert.True((await GetAsync(a, "k", register: false))!.Value.Ttl.IsNone);
    }

    [Fact]
    public async Task RegisteredRead_MakesTheReaderAHolder_ToldOfTheNextChangeOnly()
    {
        var a = await ConnectAsync("a");
        var b = await ConnectAsync("b");
        _ = await SetAsync(a, "k", [1]);
        _ = await GetAsync(b, "k", register: true);
        Assert.Equal(2, await HolderCountAsync(Key("k"))); // the writer and the reader

        var written = await SetAsync(a, "k", [2]);

        Assert.Equal(1, written.Receivers);
        await b.Heard(m => m.Kind == MessageKind.Invalidation && m.KeyOrToken == Key("k") && m.Version == 2 && m.Origin == a.Origin);
        Assert.Equal(1, await HolderCountAsync(Key("k"))); // emptied, then the writer registered for its own version
        Assert.Equal(0, (await SetAsync(a, "k", [3])).Receivers);
    }

    [Fact]
    public async Task UnregisteredRead_IsNotToldOfChanges()
    {
        var a = await ConnectAsync("a");
        var b = await ConnectAsync("b");
        _ = await SetAsync(a, "k", [1]);
        _ = await GetAsync(b, "k", register: false);

        Assert.Equal(0, (await SetAsync(a, "k", [2])).Receivers);
    }

    [Fact]
    public async Task ReadThatKeepsNoCopy_IsNotTracked()
    {
        var a = await ConnectAsync("a");
        var b = await ConnectAsync("b");
        _ = await SetAsync(a, "{t}k", [1]);
        _ = await SetAsync(a, "{t}marker", [1]);
        _ = await GetAsync(b, "{t}k", register: false);
        _ = await GetAsync(b, "{t}marker", register: true);

        await SetFromOtherClientAsync(Key("{t}k"), [9]);
        await SetFromOtherClientAsync(Key("{t}marker"), [9]);

        // Both keys share a slot, so reports reach b in change order: one for k would have come before the marker's.
        await b.Heard(m => m.Kind == MessageKind.Revoked && m.KeyOrToken == Key("{t}marker"));
        Assert.False(b.HasHeard(m => m.KeyOrToken == Key("{t}k")));
    }

    [Fact]
    public async Task WriterThatKeepsNoCopy_IsNeitherRegisteredNorTracked()
    {
        var a = await ConnectAsync("a");
        var b = await ConnectAsync("b");
        _ = await SetAsync(a, "{t}k", [1], hold: false);
        _ = await SetAsync(a, "{t}marker", [1]);

        Assert.Equal(0, await HolderCountAsync(Key("{t}k")));
        Assert.Equal(0, (await SetAsync(b, "{t}k", [2])).Receivers);
        await SetFromOtherClientAsync(Key("{t}k"), [9]);
        await SetFromOtherClientAsync(Key("{t}marker"), [9]);

        await a.Heard(m => m.Kind == MessageKind.Revoked && m.KeyOrToken == Key("{t}marker"));
        Assert.False(a.HasHeard(m => m.KeyOrToken == Key("{t}k")));
        Assert.Equal([9], (await GetAsync(a, "{t}k", register: false))!.Value.Data);
    }

    [Fact]
    public async Task ARenewalOfAnEntryRenewedLately_ChangesNothing_SoReadersKeepTheirCopies()
    {
        var a = await ConnectAsync("a");
        var b = await ConnectAsync("b");
        var sliding = new EntryExpiration(EntryExpiration.None, TimeSpan.FromMinutes(20).Ticks);
        _ = await SetAsync(a, "{r}k", [1], sliding);
        _ = await SetAsync(a, "{r}marker", [1]);
        _ = await GetAsync(b, "{r}k", register: true);
        _ = await GetAsync(b, "{r}marker", register: true);

        Assert.Equal(RenewalStatus.Renewed, (await RefreshAsync(a, "{r}k", expectedVersion: null)).Status); // its expiry is already a full window
        await SetFromOtherClientAsync(Key("{r}marker"), [9]);

        await b.Heard(m => m.Kind == MessageKind.Revoked && m.KeyOrToken == Key("{r}marker"));
        Assert.False(b.HasHeard(m => m.KeyOrToken == Key("{r}k")));
    }

    [Fact]
    public async Task Writer_IsTheFirstHolderOfItsVersion()
    {
        var a = await ConnectAsync("a");
        var b = await ConnectAsync("b");
        _ = await SetAsync(a, "k", [1]);

        Assert.Equal(1, (await SetAsync(b, "k", [2])).Receivers);
        await a.Heard(m => m.Kind == MessageKind.Invalidation && m.KeyOrToken == Key("k") && m.Version == 2);
    }

    [Fact]
    public async Task Remove_DeletesTheEntry_AndTellsHoldersTheNextVersion()
    {
        var a = await ConnectAsync("a");
        var b = await ConnectAsync("b");
        _ = await SetAsync(a, "k", [1]);
        _ = await GetAsync(b, "k", register: true);

        var removed = await a.Store.RemoveAsync(Key("k"), ackId: 0, sync: false, CancellationToken.None);

        Assert.Equal(new L2WriteResult(2, 1), removed);
        await b.Heard(m => m.Kind == MessageKind.Invalidation && m.KeyOrToken == Key("k") && m.Version == 2);
        Assert.Null(await GetAsync(a, "k", register: false));
        Assert.Equal(0, await HolderCountAsync(Key("k")));
    }

    [Fact]
    public async Task Remove_OfAMissingKey_PublishesVersionOne_ToNobody()
    {
        var a = await ConnectAsync("a");
        Assert.Equal(new L2WriteResult(1, 0), await a.Store.RemoveAsync(Key("absent"), ackId: 0, sync: true, CancellationToken.None));
    }

    [Fact]
    public async Task Replay_AppliesOnlyOnTheVersionItWasBasedOn()
    {
        var a = await ConnectAsync("a");
        Assert.Equal(1, (await ReplayAsync(a, "k", [1], baseVersion: 0))?.Version);
        Assert.Null(await ReplayAsync(a, "k", [2], baseVersion: 0));
        Assert.Equal(2, (await ReplayAsync(a, "k", [3], baseVersion: 1))?.Version);
        Assert.Equal([3], (await GetAsync(a, "k", register: false))!.Value.Data);
    }

    [Fact]
    public async Task Refresh_OfAMissingKey_IsMissing()
    {
        var a = await ConnectAsync("a");
        Assert.Equal(RenewalStatus.Missing, (await RefreshAsync(a, "absent", expectedVersion: null)).Status);
    }

    [Fact]
    public async Task Refresh_AtAnotherVersion_IsVersionChanged()
    {
        var a = await ConnectAsync("a");
        _ = await SetAsync(a, "k", [1], new EntryExpiration(EntryExpiration.None, TimeSpan.FromMinutes(20).Ticks));
        Assert.Equal(RenewalStatus.VersionChanged, (await RefreshAsync(a, "k", expectedVersion: 7)).Status);
    }

    [Fact]
    public async Task Refresh_RenewsTheSlidingWindow()
    {
        var a = await ConnectAsync("a");
        var expiration = new EntryExpiration(EntryExpiration.None, TimeSpan.FromMinutes(20).Ticks);
        _ = await SetAsync(a, "k", [1], expiration, ttl: TimeSpan.FromMinutes(5));

        var renewal = await RefreshAsync(a, "k", expectedVersion: 1);

        Assert.Equal(RenewalStatus.Renewed, renewal.Status);
        Assert.False(renewal.ReachedAbsoluteExpiration);
        Assert.InRange(renewal.Ttl.Milliseconds, (long)TimeSpan.FromMinutes(19).TotalMilliseconds, (long)TimeSpan.FromMinutes(20).TotalMilliseconds);
    }

    [Fact]
    public async Task Refresh_IsCappedByTheAbsoluteExpiration()
    {
        var a = await ConnectAsync("a");
        var expiration = new EntryExpiration(NowTicks + TimeSpan.FromMinutes(10).Ticks, TimeSpan.FromMinutes(20).Ticks);
        _ = await SetAsync(a, "k", [1], expiration);

        var renewal = await RefreshAsync(a, "k", expectedVersion: null);

        Assert.Equal(RenewalStatus.Renewed, renewal.Status);
        Assert.True(renewal.ReachedAbsoluteExpiration);
        Assert.InRange(renewal.Ttl.Milliseconds, (long)TimeSpan.FromMinutes(9).TotalMilliseconds, (long)TimeSpan.FromMinutes(10).TotalMilliseconds);
    }

    [Fact]
    public async Task Refresh_WithAHolder_RegistersIt()
    {
        var a = await ConnectAsync("a");
        var b = await ConnectAsync("b");
        _ = await SetAsync(a, "k", [1], new EntryExpiration(EntryExpiration.None, TimeSpan.FromMinutes(20).Ticks));

        _ = await b.Store.RefreshAsync(Key("k"), 1, register: true, NowTicks, sync: false, CancellationToken.None);

        Assert.Equal(1, (await SetAsync(a, "k", [2])).Receivers);
    }

    [Fact]
    public async Task AnEntryPastItsTimeToLive_IsGone()
    {
        var a = await ConnectAsync("a");
        _ = await SetAsync(a, "k", [1], new EntryExpiration(EntryExpiration.None, TimeSpan.FromMilliseconds(300).Ticks), ttl: TimeSpan.FromMilliseconds(300));
        Assert.NotNull(await GetAsync(a, "k", register: false));

        await AfterAsync(TimeSpan.FromMilliseconds(400), async () => await GetAsync(a, "k", register: false) is null, "the entry expires");
    }

    [Fact]
    public async Task AChangeByAnotherClient_IsReportedToTheReaders()
    {
        var a = await ConnectAsync("a");
        var b = await ConnectAsync("b");
        _ = await SetAsync(a, "k", [1]);
        _ = await GetAsync(b, "k", register: true);

        await SetFromOtherClientAsync(Key("k"), [9]);

        await b.Heard(m => m.Kind == MessageKind.Revoked && m.KeyOrToken == Key("k"));
        Assert.Equal([9], (await GetAsync(b, "k", register: false))!.Value.Data);
    }

    [Fact]
    public async Task SyncAndAsyncCalls_DoTheSame()
    {
        var a = await ConnectAsync("a");
        var sync = await a.Store.SetAsync(Key("s"), [1], NoExpiry, -1, ackId: 0, hold: true, sync: true, CancellationToken.None);
        var async = await a.Store.SetAsync(Key("s"), [2], NoExpiry, -1, ackId: 0, hold: true, sync: false, CancellationToken.None);
        Assert.Equal((1, 2), (sync.Version, async.Version));
        Assert.Equal([2], (await a.Store.GetAsync(Key("s"), false, false, NowTicks, sync: true, CancellationToken.None))!.Value.Data);
    }

    [Fact]
    public async Task ALargeValue_RoundTrips_NotifiesHolders_AndReplays()
    {
        // Past every implementation's large-value threshold: on Redis it is uploaded first, then moved in by the script.
        var large = new byte[LargeValueBytes];
        Random.Shared.NextBytes(large);
        var a = await ConnectAsync("a");
        var b = await ConnectAsync("b");
        _ = await SetAsync(a, "big", large);
        Assert.Equal(large, (await GetAsync(b, "big", register: true))!.Value.Data);
        Assert.Equal(large, (await GetAsync(b, "big", register: true))!.Value.Data); // read again, now known to be large

        large[0] ^= 0xFF;
        var written = await SetAsync(a, "big", large);

        Assert.Equal((2, 1), (written.Version, written.Receivers));
        await b.Heard(m => m.Kind == MessageKind.Invalidation && m.KeyOrToken == Key("big") && m.Version == 2);
        Assert.Equal(large, (await GetAsync(b, "big", register: false))!.Value.Data);
        Assert.Equal(3, (await ReplayAsync(a, "big", large, baseVersion: 2))?.Version);
        Assert.Null(await ReplayAsync(a, "big", large, baseVersion: 2));
    }

    [Fact]
    public async Task WriteMany_SetsAndRemovesKeysOfASlot_AtOnce_TellingEachKeysHolders()
    {
        var a = await ConnectAsync("a");
        var b = await ConnectAsync("b");
        var (x, y, z) = ("{m}x", "{m}y", "{m}z");
        foreach (var key in new[] { x, y, z })
        {
            _ = await SetAsync(a, key, [1]);
        }

        _ = await GetAsync(b, x, register: true);
        _ = await GetAsync(b, z, register: true);
        var large = new byte[LargeValueBytes];
        Random.Shared.NextBytes(large);

        var written = await WriteManyAsync(a, [(x, [2]), (y, null), (z, large)], guard: null);

        Assert.NotNull(written);
        Assert.Equal([(2L, 1L), (2L, 0L), (2L, 1L)], written.Select(w => (w.Version, w.Receivers)));
        await b.Heard(m => m.Kind == MessageKind.Invalidation && m.KeyOrToken == Key(x) && m.Version == 2);
        await b.Heard(m => m.Kind == MessageKind.Invalidation && m.KeyOrToken == Key(z) && m.Version == 2);
        Assert.Equal([2], (await GetAsync(b, x, register: false))!.Value.Data);
        Assert.Null(await GetAsync(b, y, register: false));
        Assert.Equal(large, (await GetAsync(b, z, register: false))!.Value.Data);
        Assert.Equal(1, await HolderCountAsync(Key(x))); // the writer, for its own version
    }

    [Fact]
    public async Task WriteMany_WithAGuardThatMoved_ChangesNothing()
    {
        var a = await ConnectAsync("a");
        var (index, value) = ("{g}index", "{g}value");
        _ = await SetAsync(a, index, [1]);

        Assert.Null(await WriteManyAsync(a, [(value, [9]), (index, [2])], guard: (index, 0)));
        Assert.Null(await GetAsync(a, value, register: false));
        var unchanged = (await GetAsync(a, index, register: false))!.Value;
        Assert.Equal((1L, "01"), (unchanged.Version, Convert.ToHexString(unchanged.Data)));

        var written = await WriteManyAsync(a, [(value, [9]), (index, [2])], guard: (index, 1));
        Assert.Equal([1L, 2L], written!.Select(w => w.Version));
        Assert.Equal([9], (await GetAsync(a, value, register: false))!.Value.Data);
    }

    /// <summary>A value size every implementation treats as large.</summary>
    private protected const int LargeValueBytes = 256 * 1024;

    private string Key(string name) => _keyPrefix + name;

    private async Task<L2WriteResult> SetAsync(Node node, string key, byte[] value, EntryExpiration? expiration = null, TimeSpan? ttl = null, bool hold = true)
    {
        var e = expiration ?? NoExpiry;
        var ttlMs = ttl is { } t ? (long)t.TotalMilliseconds : e.TtlMilliseconds(NowTicks);
        return await node.Store.SetAsync(Key(key), value, e, ttlMs, ackId: 0, hold, sync: false, CancellationToken.None);
    }

    private async Task<L2WriteResult[]?> WriteManyAsync(Node node, (string Key, byte[]? Value)[] changes, (string Key, long Version)? guard) =>
        await node.Store.WriteManyAsync(
            [.. changes.Select(change => new KeyChange(Key(change.Key), change.Value, NoExpiry, -1))],
            guard is { } g ? new VersionGuard(Key(g.Key), g.Version) : null, ackId: 0, sync: false, CancellationToken.None);

    private Task<L2WriteResult?> ReplayAsync(Node node, string key, byte[] value, long baseVersion) =>
        node.Store.ReplayAsync(new ReplayedWrite(Key(key), value, NoExpiry, baseVersion), -1, sync: false, CancellationToken.None).AsTask();

    private Task<L2Entry?> GetAsync(Node node, string key, bool register) =>
        node.Store.GetAsync(Key(key), register, refreshSliding: false, NowTicks, sync: false, CancellationToken.None).AsTask();

    private Task<Renewal> RefreshAsync(Node node, string key, long? expectedVersion) =>
        node.Store.RefreshAsync(Key(key), expectedVersion, register: false, NowTicks, sync: false, CancellationToken.None).AsTask();

    /// <summary>An instance: its store, and the messages its bus delivered.</summary>
    private protected sealed class Node(string origin, IL2Store store) : IInvalidationListener
    {
        private readonly ConcurrentQueue<ParsedMessage> _messages = new();

        public string Origin => origin;

        public IL2Store Store => store;

        /// <summary>Whether a message matching <paramref name="match"/> was delivered by now.</summary>
        public bool HasHeard(Func<ParsedMessage, bool> match) => _messages.Any(match);

        /// <summary>Waits (five seconds at most) until a message matching <paramref name="match"/> was delivered.</summary>
        public Task Heard(Func<ParsedMessage, bool> match) =>
            Eventually.TrueAsync(() => _messages.Any(match), "the instance hears the message");

        void IInvalidationListener.OnMessage(in ParsedMessage message) => _messages.Enqueue(message);

        void IInvalidationListener.OnAllRevoked()
        {
        }

        void IInvalidationListener.OnRevocationUnavailable(string reason)
        {
        }

        void IInvalidationListener.OnShardLost(Func<string, bool> servedByIt)
        {
        }

        void IInvalidationListener.OnShardProven()
        {
        }

        void IInvalidationListener.OnSubscriptionLost()
        {
        }

        void IInvalidationListener.OnSubscriptionEstablished()
        {
        }

        void IInvalidationListener.OnCoherenceUnavailable(string reason) =>
            throw new InvalidOperationException($"The bus cannot keep copies coherent here: {reason}");
    }
}
