using Cachee.Sessions.L1;
using Microsoft.Extensions.Time.Testing;

namespace Cachee.Sessions.Tests;

public sealed class L1ClockTests
{
    [Fact]
    public void OnAFakeClock_TheClockIsTheProvidersUtcTime_AndTheMarginIsProductions()
    {
        var time = new FakeTimeProvider();
        var clock = new L1Clock(time);
        Assert.Equal(new L1Clock(TimeProvider.System).Margin, clock.Margin);
        Assert.Equal(0, clock.Horizon);
        Assert.Equal(time.GetUtcNow().UtcTicks, clock.Now());
        Assert.Equal(clock.Now(), clock.Coarse);
        Assert.Equal(1_000 + 500 - clock.Margin, clock.ValidUntil(utcExpiry: 10_500, utcNow: 10_000, now: 1_000));
        Assert.Equal(long.MaxValue, clock.ValidUntil(long.MaxValue, 10_000, 1_000));
    }

    [Fact]
    public void OnTheSystemClock_ValidityEndsAMarginBeforeRedisExpiry_AndTheCoarseTimeNeverRunsAhead()
    {
        var clock = new L1Clock(TimeProvider.System);
        Assert.True(clock.Margin > 0);
        Assert.Equal(1_000 + 500 - clock.Margin, clock.ValidUntil(10_500, 10_000, 1_000));
        var coarse = clock.Coarse;
        Assert.True(coarse <= clock.Now(), "the coarse time lags, never leads");
    }

    [Fact]
    public void OnTheSystemClock_ACopyNearItsEndIsJudgedOnTheExactClock()
    {
        var store = new L1Store(1 << 20, 100, 1024, static () => { }, new L1Clock(TimeProvider.System));
        _ = store.Resume();
        var now = store.Clock.Now();
        Put(store, "ended", now - 1);
        Put(store, "near-end", now + (store.Clock.Horizon / 2));
        Put(store, "far", now + TimeSpan.TicksPerHour);
        Assert.False(store.TryServe("ended", out _));
        Assert.True(store.TryServe("near-end", out _));
        Assert.True(store.TryServe("far", out _));
    }

    private static void Put(L1Store store, string key, long validUntil)
    {
        var ticket = store.BeginRead(key);
        Assert.True(store.TryInstallRead(ticket, new L1Entry(key, [1], 1, ticket.Epoch, validUntil)));
    }
}
