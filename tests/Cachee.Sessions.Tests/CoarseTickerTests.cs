using Cachee.Sessions.L1;
using Microsoft.Extensions.Time.Testing;

namespace Cachee.Sessions.Tests;

/// <summary>The coarse clock's thread runs while a cache on the system clock is open, and stops with the last one.</summary>
public sealed class CoarseTickerTests
{
    [Fact]
    public async Task TheTicker_RunsWhileAClockIsOpen_AndStopsWithTheLast()
    {
        var ticker = new CoarseTicker();
        Assert.False(ticker.IsRunning);
        var first = new L1Clock(TimeProvider.System, ticker);
        var second = new L1Clock(TimeProvider.System, ticker);
        Assert.True(ticker.IsRunning);
        var before = CoarseTicker.Current;
        await Eventually.TrueAsync(() => CoarseTicker.Current > before, "the coarse time moves");

        first.Dispose();
        first.Dispose(); // a second disposal releases nothing more
        Assert.True(ticker.IsRunning);

        second.Dispose();
        Assert.False(ticker.IsRunning);
    }

    [Fact]
    public void AClockOnAFakeTimeProvider_DoesNotStartTheTicker()
    {
        var ticker = new CoarseTicker();
        using var clock = new L1Clock(new FakeTimeProvider(), ticker);
        Assert.False(ticker.IsRunning);
    }
}
