using System.Text;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// Session keys are bearer secrets: no log line at any level, no exception message, carries a key, a value or the Redis
/// password, through a flow that makes Cachee log about keys (reads, writes, an unreadable entry, an outage with stale reads,
/// a queued write and its replay).
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class SecretsInLogsTests
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };

    [Fact]
    public async Task TheWholeFlowAtTraceLevel_LogsNoKeyNoValueAndNoPassword()
    {
        var password = $"pw{Guid.NewGuid():N}";
        using var server = RedisProcess.Start("--requirepass", password);
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        var prefix = $"t{Guid.NewGuid():N}:";
        var secrets = new List<string> { password };
        string Secret(string kind)
        {
            var made = $"{kind}-{Guid.NewGuid():N}";
            secrets.Add(made);
            return made;
        }

        TieredDistributedCache Create() => new(
            Options.Create(new CacheeOptions
            {
                Configuration = $"{server.Endpoint},password={password}",
                InstanceName = prefix,
                WriteFailureMode = WriteFailureMode.Replay,
                CircuitBreakerBreakDuration = TimeSpan.FromMilliseconds(200),
                L2OperationTimeout = TimeSpan.FromMilliseconds(500),
            }),
            loggerFactory, null, null);
        await using var a = Create();
        await using var b = Create();
        foreach (var cache in new[] { a, b })
        {
            await cache.Coordinator.StartAsync(CancellationToken.None);
            await Eventually.TrueAsync(() => cache.Coordinator.IsSubscribed, "the subscription becomes live"); // L1 copies, to serve stale later
        }

        var session = Secret("session");
        var queued = Secret("queued");
        var unreadable = Secret("unreadable");
        var missing = Secret("missing");

        await a.SetAsync(session, Encoding.UTF8.GetBytes(Secret("value")), Sliding);
        Assert.NotNull(await b.GetAsync(session));
        b.Refresh(session);
        await a.SetAsync(session, Encoding.UTF8.GetBytes(Secret("value")), Sliding); // b's copy is invalidated, prefetched
        using (var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"{server.Endpoint},password={password}"))
        {
            _ = await admin.GetDatabase().StringSetAsync(prefix + unreadable, "not a hash");
        }

        Assert.Null(await a.GetAsync(unreadable)); // logged as unreadable
        Assert.NotNull(await b.GetAsync(session));

        server.Kill();
        await Eventually.TrueAsync(() => !b.Coordinator.IsSubscribed, "b notices the outage");
        Assert.NotNull(await b.GetAsync(session)); // stale-on-error, logged
        var thrown = await Record.ExceptionAsync(() => b.GetAsync(missing));
        Assert.IsType<CacheUnavailableException>(thrown);
        await a.SetAsync(queued, Encoding.UTF8.GetBytes(Secret("value")), Sliding); // queued for replay, logged
        server.Restart();
        await Eventually.TrueAsync(
            () => logs.Lines.Any(line => line.Contains("[WriteReplayed]", StringComparison.Ordinal)), "the queued write is replayed", TimeSpan.FromSeconds(30));
        await a.RemoveAsync(session);

        var lines = logs.Lines.ToList();
        Assert.Contains(lines, line => line.Contains("[UnreadablePayload]", StringComparison.Ordinal) && line.Contains("key#", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.Contains("[ServedStale]", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.Contains("[WriteQueued]", StringComparison.Ordinal));
        foreach (var text in lines.Append(thrown.ToString()))
        {
            foreach (var secret in secrets)
            {
                Assert.False(text.Contains(secret, StringComparison.Ordinal), $"'{secret}' appears in: {text}");
            }
        }
    }
}
