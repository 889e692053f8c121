using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// <c>AddCacheeHealthCheck</c>, each state driven with a real redis-server of the test's own (paused, killed),
/// through ASP.NET Core's <see cref="HealthCheckService"/>.
/// </summary>
public sealed class HealthCheckTests
{
    [Fact]
    public async Task Healthy_WhenRedisAnswersAndTheSubscriptionIsLive()
    {
        using var redis = RedisProcess.Start();
        await using var app = await App.StartAsync(redis);

        var report = await app.CheckAsync();

        Assert.Equal(HealthStatus.Healthy, report.Status);
        Assert.Equal("live", report.Data["subscription"]);
        Assert.Equal("closed", report.Data["breaker"]);
        Assert.Equal(0L, report.Data["replayPending"]);
        Assert.IsType<double>(report.Data["redisPingMs"]);
    }

    [Fact]
    public async Task Degraded_WithWritesInTheReplayQueue_WhileRedisIsPaused_ThenHealthyWhenTheyAreWritten()
    {
        using var redis = RedisProcess.Start();
        await using var app = await App.StartAsync(redis, o => o.WriteFailureMode = WriteFailureMode.Replay);

        redis.Pause();
        try
        {
            await app.Cache.SetStringAsync("k", "queued while Redis is paused");
            var report = await app.CheckAsync();
            Assert.Equal(HealthStatus.Degraded, report.Status);
            Assert.Equal(1L, report.Data["replayPending"]);
            Assert.Equal("no answer", report.Data["redisPingMs"]);
            Assert.Contains("replay queue", report.Description, StringComparison.Ordinal);
        }
        finally
        {
            redis.Resume();
        }

        await Eventually.TrueAsync(async () => (await app.CheckAsync()).Status == HealthStatus.Healthy, "the queue is written and the check healthy", TimeSpan.FromSeconds(20));
        Assert.Equal("queued while Redis is paused", await app.Cache.GetStringAsync("k"));
    }

    [Fact]
    public async Task ServingStale_ThenBreakerOpen_ThenHalfOpen_WhenRedisIsKilled()
    {
        using var redis = RedisProcess.Start();
        await using var app = await App.StartAsync(redis, o =>
        {
            o.CircuitBreakerFailureThreshold = 3;
            o.CircuitBreakerBreakDuration = TimeSpan.FromSeconds(3); // the check right after the third failure must fall in the break
        });
        await app.Cache.SetStringAsync("k", "v");
        Assert.Equal("v", await app.Cache.GetStringAsync("k"));

        redis.Kill();
        await Eventually.TrueAsync(() => !app.Cache.Coordinator.IsSubscribed, "the subscription is known lost");

        // The copy is served stale (Redis cannot be asked): Degraded, saying so.
        Assert.Equal("v", await app.Cache.GetStringAsync("k"));
        var stale = await app.CheckAsync();
        Assert.Equal(HealthStatus.Degraded, stale.Status);
        Assert.Contains("stale", stale.Description, StringComparison.Ordinal);
        Assert.True(stale.Data.ContainsKey("staleServedSecondsAgo"));
        Assert.Equal("lost", stale.Data["subscription"]);

        // Failures in a row open the breaker: Unhealthy.
        for (var i = 0; i < 3; i++)
        {
            _ = await Assert.ThrowsAsync<CacheUnavailableException>(() => app.Cache.GetStringAsync("missing-" + i));
        }

        var open = await app.CheckAsync();
        Assert.Equal(HealthStatus.Unhealthy, open.Status);
        Assert.Equal("open", open.Data["breaker"]);

        // Its break over, the breaker lets a probe through: half-open, Degraded.
        await Eventually.TrueAsync(async () => (await app.CheckAsync()).Data["breaker"] as string == "half-open", "the break ends", TimeSpan.FromSeconds(10));
        var halfOpen = await app.CheckAsync();
        Assert.Equal(HealthStatus.Degraded, halfOpen.Status);
        Assert.Contains("half-open", halfOpen.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unhealthy_WhenTheSubscriptionStaysLostBeyondTheThreshold_HealthyAgainWhenRedisIsBack()
    {
        using var redis = RedisProcess.Start();
        await using var app = await App.StartAsync(redis, subscriptionLossThreshold: TimeSpan.FromSeconds(1));

        redis.Kill();
        await Eventually.TrueAsync(() => !app.Cache.Coordinator.IsSubscribed, "the subscription is known lost");
        var justLost = await app.CheckAsync();
        Assert.NotEqual(HealthStatus.Healthy, justLost.Status);

        await Eventually.TrueAsync(async () => (await app.CheckAsync()).Status == HealthStatus.Unhealthy, "the loss outlasts the threshold", TimeSpan.FromSeconds(10));
        var lost = await app.CheckAsync();
        Assert.Contains("not been live", lost.Description, StringComparison.Ordinal);
        Assert.Equal("closed", lost.Data["breaker"]); // no traffic: it is the subscription that makes it unhealthy
        Assert.True((double)lost.Data["unsubscribedSeconds"] >= 1);

        redis.Restart();
        await Eventually.TrueAsync(async () => (await app.CheckAsync()).Status == HealthStatus.Healthy, "the check is healthy again", TimeSpan.FromSeconds(20));
    }

    // The cache and the health check registered as an application does, started as the host would.
    private sealed class App : IAsyncDisposable
    {
        private readonly ServiceProvider _services;

        private App(ServiceProvider services)
        {
            _services = services;
            Cache = services.GetRequiredService<TieredDistributedCache>();
        }

        public TieredDistributedCache Cache { get; }

        public static async Task<App> StartAsync(RedisProcess redis, Action<CacheeOptions>? configure = null, TimeSpan? subscriptionLossThreshold = null)
        {
            var services = new ServiceCollection().AddLogging();
            _ = services.AddCacheeDistributedCache(o =>
            {
                o.Configuration = redis.Endpoint;
                o.InstanceName = $"h{Guid.NewGuid():N}:";
                o.L2OperationTimeout = TimeSpan.FromMilliseconds(300);
                configure?.Invoke(o);
            });
            _ = services.AddHealthChecks().AddCacheeHealthCheck(subscriptionLossThreshold: subscriptionLossThreshold ?? TimeSpan.FromMinutes(1));
            var app = new App(services.BuildServiceProvider());
            await app.Cache.Coordinator.StartAsync(CancellationToken.None);
            await Eventually.TrueAsync(() => app.Cache.Coordinator.IsSubscribed, "the subscription becomes live");
            return app;
        }

        public async Task<HealthReportEntry> CheckAsync() =>
            (await _services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["cachee"];

        public async ValueTask DisposeAsync() => await _services.DisposeAsync();
    }
}
