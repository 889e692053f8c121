using System.Runtime.InteropServices;
using System.Text;
using Cachee.Sessions.SessionState;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Session;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.Tests;

/// <summary>
/// Cachee's session over the in-memory model: <see cref="ISession"/> as <c>DistributedSession</c> behaves, stored key by key
/// (commits write what changed, holders keep what did not), and both ways between the formats.
/// </summary>
public sealed class PerKeySessionTests : IAsyncLifetime
{
    private static readonly TimeSpan Idle = TimeSpan.FromMinutes(20);
    private static readonly TimeSpan Io = TimeSpan.FromSeconds(1);
    private readonly CapturingLoggerProvider _logs = new();
    private readonly ILoggerFactory _loggerFactory;
    private readonly CacheeTestFleet _fleet = new();
    private TieredDistributedCache _a = null!;
    private TieredDistributedCache _b = null!;

    public PerKeySessionTests()
    {
        _loggerFactory = LoggerFactory.Create(logging => logging.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace));
    }

    public async Task InitializeAsync()
    {
        _a = await _fleet.AddInstanceAsync();
        _b = await _fleet.AddInstanceAsync();
    }

    public async Task DisposeAsync()
    {
        await _fleet.DisposeAsync();
        _loggerFactory.Dispose();
    }

    [Fact]
    public async Task NewSession_NothingTouched_CostsNoRedisCall()
    {
        var commands = _fleet.Redis.Commands;
        var session = Open(_a, "fresh", isNew: true);
        await session.CommitAsync();
        Assert.Equal(commands, _fleet.Redis.Commands);
    }

    [Fact]
    public async Task Set_IsReadOnAnotherInstance_WithTheSameIdAndKeys()
    {
        var writer = Open(_a, "s1", isNew: true);
        writer.SetString("name", "ada");
        writer.SetInt32("count", 3);
        var id = writer.Id;
        await writer.CommitAsync();

        var reader = Open(_b, "s1");
        await reader.LoadAsync();
        Assert.True(reader.IsAvailable);
        Assert.Equal(id, reader.Id);
        Assert.Equal(["name", "count"], reader.Keys);
        Assert.Equal("ada", reader.GetString("name"));
        Assert.Equal(3, reader.GetInt32("count"));
        Assert.False(reader.TryGetValue("other", out _));
        Assert.Contains(_logs.Lines, line => line.StartsWith("Information Microsoft.AspNetCore.Session.DistributedSession [SessionStarted]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LoadAsync_WithACanceledToken_Throws()
    {
        await WriteAsync(_a, "s", ("k", "v"));
        var session = Open(_b, "s");
        _ = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => session.LoadAsync(new CancellationToken(canceled: true)));
        Assert.Equal("v", session.GetString("k"));
    }

    [Fact]
    public async Task KeysAreCaseSensitive()
    {
        await WriteAsync(_a, "s", ("Key", "upper"));
        var session = Open(_b, "s");
        session.SetString("key", "lower");
        await session.CommitAsync();

        var reader = Open(_a, "s");
        Assert.Equal("upper", reader.GetString("Key"));
        Assert.Equal("lower", reader.GetString("key"));
    }

    [Fact]
    public async Task ChangingASmallKey_WritesOnlyIt_AndOtherInstancesKeepTheLargeOne()
    {
        var context = new byte[256 * 1024];
        Random.Shared.NextBytes(context);
        var writer = Open(_a, "s", isNew: true);
        writer.Set("context", context);
        writer.SetString("step", "1");
        await writer.CommitAsync();
        var keys = new SessionKeys("s");
        Assert.Equal(context, Open(_b, "s").Get("context")); // b now holds the context in L1
        Assert.True(_b.L1.TryPeek(keys.Value("context"), out var before));

        var changer = Open(_a, "s");
        changer.SetString("step", "2");
        await changer.CommitAsync();

        Assert.True(_b.L1.TryPeek(keys.Value("context"), out var after)); // not invalidated
        Assert.Equal(before.Version, after.Version);
        Assert.Equal("2", Encoding.UTF8.GetString((await _b.GetAsync(keys.Value("step")))!)); // the one key that changed
        var commands = _fleet.Redis.Commands;
        var reader = Open(_b, "s");
        Assert.Equal(context, reader.Get("context"));
        Assert.Equal("2", reader.GetString("step"));
        Assert.Equal(commands, _fleet.Redis.Commands); // the index, the context and the new step, all from L1
    }

    [Fact]
    public async Task ConcurrentCommits_OfDifferentKeys_OnTwoInstances_BothSurvive()
    {
        await WriteAsync(_a, "s", ("x", "0"), ("y", "0"));
        var first = Open(_a, "s");
        var second = Open(_b, "s");
        await first.LoadAsync();
        await second.LoadAsync();
        first.SetString("x", "1");
        first.SetString("new-a", "a");
        second.SetString("y", "1");
        second.SetString("new-b", "b");

        // The first commit reads the index, then waits while the second commits whole: its versioned write must find the
        // index changed, read it again and merge.
        var secondDone = new TaskCompletionSource();
        ((CacheeSession)first).AfterIndexRead = () => secondDone.Task;
        var firstCommit = first.CommitAsync();
        Assert.False(firstCommit.IsCompleted);
        await second.CommitAsync();
        ((CacheeSession)first).AfterIndexRead = null;
        secondDone.SetResult();
        await firstCommit;

        var reader = Open(_b, "s");
        Assert.Equal(("1", "1", "a", "b"), (reader.GetString("x"), reader.GetString("y"), reader.GetString("new-a"), reader.GetString("new-b")));
        Assert.Equal(["new-a", "new-b", "x", "y"], reader.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task ACommitOfSeveralKeys_IsOneRedisStep()
    {
        await WriteAsync(_a, "s", ("x", "0"), ("y", "0"), ("z", "0"));
        var session = Open(_b, "s");
        await session.LoadAsync();
        session.SetString("x", "1");
        session.SetString("y", "1");
        session.Remove("z");
        var commands = _fleet.Redis.Commands;
        ((CacheeSession)session).AfterIndexRead = () => Task.FromResult(commands = _fleet.Redis.Commands);
        await session.CommitAsync();
        Assert.Equal(commands + 1, _fleet.Redis.Commands); // after the index read: one write of the values, the removal and the index
        var reader = Open(_a, "s");
        Assert.Equal(["x", "y"], reader.Keys);
        Assert.Equal(("1", "1"), (reader.GetString("x"), reader.GetString("y")));
    }

    [Fact]
    public async Task SameKey_LastCommitWins()
    {
        await WriteAsync(_a, "s", ("k", "0"));
        var first = Open(_a, "s");
        var second = Open(_b, "s");
        first.SetString("k", "first");
        second.SetString("k", "second");
        await first.CommitAsync();
        await second.CommitAsync();
        Assert.Equal("second", Open(_a, "s").GetString("k"));
    }

    [Fact]
    public async Task RemoveAndClear_AreSeenOnOtherInstances()
    {
        await WriteAsync(_a, "s", ("a", "1"), ("b", "2"), ("c", "3"));
        var remover = Open(_b, "s");
        remover.Remove("a");
        Assert.Equal(["b", "c"], remover.Keys);
        await remover.CommitAsync();
        var reader = Open(_a, "s");
        Assert.Null(reader.GetString("a"));
        Assert.Equal(["b", "c"], reader.Keys);

        var clearer = Open(_a, "s");
        clearer.Clear();
        clearer.SetString("d", "4");
        await clearer.CommitAsync();
        var after = Open(_b, "s");
        Assert.Equal(["d"], after.Keys);
        Assert.Null(after.GetString("b"));
        Assert.Equal("4", after.GetString("d"));
    }

    [Fact]
    public async Task RemoveOfAMissingKey_ChangesNothing_AndCommitsNothing()
    {
        await WriteAsync(_a, "s", ("a", "1"));
        var session = Open(_a, "s");
        _ = session.GetString("a");
        session.Remove("missing");
        var commands = _fleet.Redis.Commands;
        await session.CommitAsync(); // a refresh of keys held in L1: no Redis call
        Assert.Equal(commands, _fleet.Redis.Commands);
    }

    [Fact]
    public async Task TryGetValue_ReturnsACopy_TryGetMemory_DoesNot()
    {
        await WriteAsync(_a, "s", ("k", "value"));
        var session = Open(_b, "s");
        Assert.True(session.TryGetValue("k", out var copy));
        copy[0] = (byte)'X';
        Assert.Equal("value", session.GetString("k"));

        Assert.True(session.TryGetMemory("k", out var memory));
        Assert.True(MemoryMarshal.TryGetArray(memory, out var segment));
        Assert.Same(await _b.GetAsync(new SessionKeys("s").Value("k")), segment.Array); // the L1 copy itself
        Assert.False(session.TryGetMemory("missing", out var none));
        Assert.True(none.IsEmpty);
    }

    [Fact]
    public async Task TryGetMemory_OnAnotherSession_ReadsThroughTryGetValue()
    {
        ISession session = new DistributedSession(_a, "ms", Idle, Io, () => true, _loggerFactory, isNewSessionKey: true);
        session.SetString("k", "v");
        await session.CommitAsync();
        Assert.True(session.TryGetMemory("k", out var memory));
        Assert.Equal("v", Encoding.UTF8.GetString(memory.Span));
    }

    [Fact]
    public void BadInput_GetsDistributedSessionsErrors()
    {
        var session = Open(_a, "s", isNew: true);
        _ = Assert.Throws<ArgumentNullException>(() => session.Set("k", null!));
        _ = Assert.Throws<ArgumentNullException>(() => session.Set(null!, [1]));
        _ = Assert.Throws<ArgumentOutOfRangeException>(() => session.Set(new string('k', ushort.MaxValue + 1), [1]));
        var late = Open(_a, "s2", isNew: true, establish: () => false);
        var error = Assert.Throws<InvalidOperationException>(() => late.Set("k", [1]));
        Assert.Contains("after the response has started", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetValue_IsCopied_SoLaterChangesOfTheCallersArrayDoNotLeakIn()
    {
        var value = new byte[] { 1, 2, 3 };
        var session = Open(_a, "s", isNew: true);
        session.Set("k", value);
        value[0] = 9;
        await session.CommitAsync();
        Assert.Equal([1, 2, 3], Open(_b, "s").Get("k"));
    }

    [Fact]
    public async Task SessionIdle_PastItsTimeout_Expires_AndIsLogged()
    {
        await WriteAsync(_a, "s", ("k", "v"));
        _fleet.Time.Advance(Idle + TimeSpan.FromMinutes(1));
        _fleet.Redis.ExpireDue();
        var session = Open(_b, "s");
        Assert.Empty(session.Keys);
        Assert.True(session.IsAvailable);
        Assert.Contains(_logs.Lines, line => line.StartsWith("Information", StringComparison.Ordinal) && line.Contains("[AccessingExpiredSession]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SessionOnlyRead_IsRenewed_AndOutlivesItsTimeout()
    {
        await WriteAsync(_a, "s", ("k", "v"), ("unread", "u"));
        for (var minute = 0; minute < 3 * Idle.TotalMinutes; minute += 5)
        {
            _fleet.Time.Advance(TimeSpan.FromMinutes(5));
            var session = Open(minute % 10 == 0 ? _a : _b, "s");
            Assert.Equal("v", session.GetString("k"));
            await session.CommitAsync();
            await _fleet.RunBackgroundWorkAsync(); // sends the renewals noted for keys held in L1
        }

        _fleet.Redis.ExpireDue();
        var reader = Open(_b, "s");
        Assert.Equal(("v", "u"), (reader.GetString("k"), reader.GetString("unread")));
    }

    [Fact]
    public async Task RedisDownAtLoad_SessionIsUnavailable_ChangesAreIgnored_AndTheErrorLogged()
    {
        await WriteAsync(_a, "s", ("k", "v"));
        _fleet.Redis.Fail();
        var session = Open(_b, "s");
        Assert.False(session.IsAvailable);
        Assert.Equal(string.Empty, session.Id);
        session.SetString("k", "changed"); // ignored, as DistributedSession ignores it
        Assert.Empty(session.Keys);
        Assert.Contains(_logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal) && line.Contains("[SessionCacheReadException]", StringComparison.Ordinal));
        Assert.DoesNotContain(_logs.Lines, line => line.Contains("Key:s,", StringComparison.Ordinal) || line.Contains("SessionKey=s,", StringComparison.Ordinal));
        _fleet.Redis.Recover();
        Assert.Equal("v", Open(_b, "s").GetString("k"));
    }

    [Fact]
    public async Task LoadAsync_TimesOut_AfterTheIoTimeout()
    {
        await WriteAsync(_a, "s", ("k", "v"));
        var resume = new TaskCompletionSource();
        _fleet.Redis.PauseUntil(resume.Task);
        var session = Open(_b, "s", io: TimeSpan.FromSeconds(2));
        var load = session.LoadAsync();
        _fleet.Time.Advance(TimeSpan.FromSeconds(3));
        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => load);
        Assert.Equal("Timed out loading the session.", error.Message);
        Assert.Contains(_logs.Lines, line => line.Contains("[SessionLoadingTimeout]", StringComparison.Ordinal));
        resume.SetResult();
    }

    [Fact]
    public async Task CorruptValue_IsAMissOfThatKeyOnly()
    {
        await WriteAsync(_a, "s", ("good", "g"), ("bad", "b"));
        _fleet.Redis.PutCorrupt(new SessionKeys("s").Value("bad"));
        var session = Open(_b, "s");
        Assert.True(session.IsAvailable);
        Assert.Equal("g", session.GetString("good"));
        Assert.Null(session.GetString("bad"));
    }

    [Fact]
    public async Task CorruptIndex_StartsTheSessionAnew_AndIsLogged()
    {
        await WriteAsync(_a, "s", ("k", "v"));
        _fleet.Redis.SetFromOtherClient(new SessionKeys("s").Index, [9, 9, 9]);
        var session = Open(_b, "s");
        Assert.True(session.IsAvailable);
        Assert.Empty(session.Keys);
        Assert.Contains(_logs.Lines, line => line.Contains("[UnreadableSession]", StringComparison.Ordinal));
        session.SetString("k", "again");
        await session.CommitAsync();
        Assert.Equal("again", Open(_a, "s").GetString("k"));
    }

    [Fact]
    public async Task SessionOfTheOldStack_IsRead_AndMovedKeyByKeyAtItsNextChange()
    {
        var old = new DistributedSession(_a, "s", Idle, Io, () => true, _loggerFactory, isNewSessionKey: true);
        old.SetString("user", "ada");
        old.SetString("cart", "3");
        var id = old.Id;
        await old.CommitAsync();

        var session = Open(_b, "s");
        Assert.Equal(id, session.Id);
        Assert.Equal(["user", "cart"], session.Keys);
        Assert.Equal("ada", session.GetString("user"));
        session.SetString("cart", "4");
        await session.CommitAsync();

        Assert.Null(await _a.GetAsync("s")); // the old value is gone
        var keys = new SessionKeys("s");
        Assert.NotNull(await _a.GetAsync(keys.Index));
        var reader = Open(_a, "s");
        Assert.Equal((id, "ada", "4"), (reader.Id, reader.GetString("user"), reader.GetString("cart")));
    }

    [Fact]
    public async Task InDistributedSessionFormat_TheOldStackReadsWhatCacheeWrites()
    {
        var session = Open(_a, "s", isNew: true, format: SessionFormat.DistributedSession);
        session.SetString("user", "ada");
        var id = session.Id;
        await session.CommitAsync();

        var old = new DistributedSession(_b, "s", Idle, Io, () => true, _loggerFactory, isNewSessionKey: false);
        await old.LoadAsync();
        Assert.Equal((id, "ada"), (old.Id, old.GetString("user")));
        old.SetString("cart", "1");
        await old.CommitAsync();

        var again = Open(_a, "s", format: SessionFormat.DistributedSession);
        Assert.Equal(("ada", "1"), (again.GetString("user"), again.GetString("cart")));
    }

    [Fact]
    public async Task InDistributedSessionFormat_ASessionStoredKeyByKey_IsReadAndRewritten()
    {
        await WriteAsync(_a, "s", ("user", "ada"));
        var session = Open(_b, "s", format: SessionFormat.DistributedSession);
        Assert.Equal("ada", session.GetString("user"));
        session.SetString("cart", "1");
        await session.CommitAsync();

        Assert.Null(await _a.GetAsync(new SessionKeys("s").Index));
        var old = new DistributedSession(_a, "s", Idle, Io, () => true, _loggerFactory, isNewSessionKey: false);
        Assert.Equal(("ada", "1"), (old.GetString("user"), old.GetString("cart")));
    }

    [Fact]
    public void SessionKeysWithBraces_GetTagsOfTheirOwn()
    {
        Assert.Equal("{abc}#", new SessionKeys("abc").Index);
        Assert.NotEqual(new SessionKeys("a}=b").Index, new SessionKeys("a").Value("b}"));
        Assert.StartsWith("{~", new SessionKeys("{x}").Index, StringComparison.Ordinal);
        Assert.NotEqual(new SessionKeys("~78").Index, new SessionKeys("x").Index);
    }

    private ISession Open(
        TieredDistributedCache instance, string key, bool isNew = false, SessionFormat format = SessionFormat.PerKey, Func<bool>? establish = null, TimeSpan? io = null) =>
        new CacheeSessionStore(instance, Options.Create(new CacheeOptions { SessionFormat = format }), _loggerFactory)
            .Create(key, Idle, io ?? Io, establish ?? (() => true), isNew);

    private async Task WriteAsync(TieredDistributedCache instance, string key, params (string Name, string Value)[] values)
    {
        var session = Open(instance, key, isNew: true);
        foreach (var (name, value) in values)
        {
            session.SetString(name, value);
        }

        await session.CommitAsync();
    }
}
