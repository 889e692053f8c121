using Cachee.Sessions.L2;
using Microsoft.Extensions.Time.Testing;

namespace Cachee.Sessions.Tests;

public sealed class CircuitBreakerTests
{
    private static readonly TimeSpan Break = TimeSpan.FromSeconds(2);
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Closed_LetsEveryCallThrough_UntilThresholdFailuresInARow()
    {
        var breaker = new CircuitBreaker(3, Break, _time);
        Assert.False(breaker.Failed());
        Assert.False(breaker.Failed());
        breaker.Enter();
        Assert.True(breaker.Failed()); // the third in a row opens it
        Assert.Throws<CacheUnavailableException>(breaker.Enter);
    }

    [Fact]
    public void ASuccess_ResetsTheFailuresInARow()
    {
        var breaker = new CircuitBreaker(2, Break, _time);
        Assert.False(breaker.Failed());
        Assert.False(breaker.Succeeded()); // it was not open
        Assert.False(breaker.Failed());
        breaker.Enter();
    }

    [Fact]
    public void Open_FailsAtOnceForTheBreak_ThenLetsExactlyOneProbeThrough()
    {
        var breaker = OpenBreaker();
        _time.Advance(Break - TimeSpan.FromTicks(1));
        Assert.Throws<CacheUnavailableException>(breaker.Enter);
        _time.Advance(TimeSpan.FromTicks(1));
        breaker.Enter(); // the probe
        var second = Assert.Throws<CacheUnavailableException>(breaker.Enter);
        Assert.Contains("circuit breaker", second.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheProbesSuccess_ClosesIt()
    {
        var breaker = OpenBreaker();
        _time.Advance(Break);
        breaker.Enter();
        Assert.True(breaker.Succeeded());
        breaker.Enter();
        breaker.Enter();
    }

    [Fact]
    public void TheProbesFailure_OpensItForAnotherFullBreak()
    {
        var breaker = OpenBreaker();
        _time.Advance(Break);
        breaker.Enter();
        Assert.False(breaker.Failed()); // already open: not a new opening
        _time.Advance(Break - TimeSpan.FromTicks(1));
        Assert.Throws<CacheUnavailableException>(breaker.Enter);
        _time.Advance(TimeSpan.FromTicks(1));
        breaker.Enter();
    }

    [Fact]
    public void AnAbandonedProbe_LetsTheNextCallProbe()
    {
        var breaker = OpenBreaker();
        _time.Advance(Break);
        breaker.Enter();
        breaker.Abandoned(); // its caller cancelled: no outcome
        breaker.Enter();
    }

    [Fact]
    public void AnAnswerFromElsewhere_ClosesAnOpenBreakerAtOnce()
    {
        var breaker = OpenBreaker();
        Assert.True(breaker.Succeeded()); // e.g. the subscription's probe came back
        breaker.Enter();
    }

    private CircuitBreaker OpenBreaker()
    {
        var breaker = new CircuitBreaker(1, Break, _time);
        Assert.True(breaker.Failed());
        return breaker;
    }
}
