using System.Globalization;
using System.Net.Http.Json;
using Cachee.Sessions;
using Microsoft.Extensions.Diagnostics.HealthChecks;

/// <summary>
/// The sample's live dashboard: <c>/dashboard</c> (a page that polls <c>/dashboard/fleet</c> every second),
/// <c>/dashboard/fleet</c> (the figures of every instance listed in <c>Dashboard:Peers</c>, asked server-side), and
/// <c>/dashboard/stats</c> (this instance's own figures, from <see cref="TieredDistributedCache.GetStatistics"/>, its rates
/// over the last second from <see cref="DashboardSampler"/>, and the Cachee health check).
/// </summary>
internal static class Dashboard
{
    public static void MapDashboard(this WebApplication app, string instance)
    {
        var peers = (app.Configuration["Dashboard:Peers"] ?? string.Empty)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        app.MapGet("/dashboard", () => Results.Content(Page(), "text/html; charset=utf-8"));

        app.MapGet("/dashboard/stats", async (TieredDistributedCache cache, DashboardSampler sampler, HealthCheckService health) =>
        {
            var lastSecond = sampler.Latest;
            var statistics = cache.GetStatistics();
            var report = await health.CheckHealthAsync(registration => registration.Name == "cachee");
            var cachee = report.Entries.TryGetValue("cachee", out var entry) ? entry : default;
            return new InstanceFigures(
                instance, statistics.L1Hits ?? 0, statistics.L1Misses, statistics.L2Hits, statistics.L2Misses, statistics.InvalidationsSent,
                statistics.InvalidationsReceived, lastSecond.InvalidationsPerSecond, statistics.AckWaits, statistics.AckWaitTime.TotalMilliseconds,
                lastSecond.AckWaitMilliseconds,
                cachee.Data?.GetValueOrDefault("breaker") as string ?? "unknown", statistics.ReplayPending,
                cachee.Data?.GetValueOrDefault("subscription") as string ?? "unknown", cachee.Status.ToString());
        });

        app.MapGet("/dashboard/fleet", async (HttpContext context, IHttpClientFactory clients) =>
        {
            var self = $"{context.Request.Scheme}://{context.Request.Host}";
            var urls = peers.Length > 0 ? peers : [self];
            var client = clients.CreateClient("dashboard");
            client.Timeout = TimeSpan.FromSeconds(1);
            var figures = await Task.WhenAll(urls.Select(async url =>
            {
                try
                {
                    var figures = await client.GetFromJsonAsync<InstanceFigures>(new Uri(new Uri(url), "/dashboard/stats"));
                    return new PeerFigures(url, true, figures);
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
                {
                    return new PeerFigures(url, false, null); // a stopped instance shows as down
                }
            }));
            return new FleetFigures(DateTimeOffset.UtcNow.ToString("HH:mm:ss", CultureInfo.InvariantCulture), figures);
        });
    }

    private static string Page()
    {
        using var stream = typeof(Dashboard).Assembly.GetManifestResourceStream("dashboard.html")
            ?? throw new InvalidOperationException("dashboard.html is not embedded.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    internal sealed record InstanceFigures(
        string Instance, long L1Hits, long L1Misses, long L2Hits, long L2Misses, long InvalidationsSent, long InvalidationsReceived,
        double InvalidationsPerSecond, long AckWaits, double AckWaitMilliseconds, double? LastSecondAckWaitMilliseconds, string Breaker, long ReplayPending, string Subscription, string Health);

    internal sealed record PeerFigures(string Url, bool Up, InstanceFigures? Figures);

    internal sealed record FleetFigures(string At, PeerFigures[] Instances);
}
