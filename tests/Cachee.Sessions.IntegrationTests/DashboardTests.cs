using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// The sample's live dashboard, in a real headless browser (Chromium from the OS packages, in its own headless
/// modes: the DOM after the page's scripts ran, and a screenshot). Three sample instances run over one redis-server; the
/// page, served by one of them, must show all three with their figures. The screenshot goes to docs/dashboard.png.
/// </summary>
[Collection(ChildProcessCollection.Name)]
public sealed partial class DashboardTests
{
    [Fact]
    public async Task TheDashboard_ShowsEveryInstanceLive_InAHeadlessBrowser()
    {
        var chromium = FindChromium();
        var repository = ChildProcesses.RepositoryRoot();
        var sample = Path.Combine(repository, "samples", "Cachee.Sessions.Sample", "bin", ChildProcesses.Configuration, "net10.0", "Cachee.Sessions.Sample.dll");
        Assert.True(File.Exists(sample), $"The sample is not built: {sample}");
        var work = Directory.CreateTempSubdirectory("cachee-dashboard-").FullName;
        using var redis = RedisProcess.Start();
        int[] ports = [RedisProcess.FreePort(), RedisProcess.FreePort(), RedisProcess.FreePort()];
        var peers = string.Join(',', ports.Select(port => $"http://127.0.0.1:{port}"));
        var apps = new List<Process>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                apps.Add(ChildProcesses.StartLogged(
                    "dotnet",
                    [sample, "--urls", $"http://127.0.0.1:{ports[i]}", "--Redis", redis.Endpoint, "--InstanceLabel", $"app-{i + 1}", "--Dashboard:Peers", peers],
                    Path.Combine(work, $"app-{i + 1}.log")));
            }

            using var handler = new HttpClientHandler { CookieContainer = new CookieContainer() };
            using var client = new HttpClient(handler);
            for (var i = 0; i < 3; i++)
            {
                await ChildProcesses.WaitUntilServingAsync(client, new Uri($"http://127.0.0.1:{ports[i]}/healthz"), apps[i]);
            }

            // A visitor: signed in on one instance, read on all of them (then from their L1), a change on another.
            await PostAsync(client, ports[0], "/signin/alice");
            for (var round = 0; round < 3; round++)
            {
                foreach (var port in ports)
                {
                    _ = await client.GetStringAsync(new Uri($"http://127.0.0.1:{port}/"));
                }
            }

            await PostAsync(client, ports[1], "/cart/book");
            _ = await client.GetStringAsync(new Uri($"http://127.0.0.1:{ports[2]}/"));

            // Prometheus metrics, from the OpenTelemetry exporter.
            var metrics = await client.GetStringAsync(new Uri($"http://127.0.0.1:{ports[1]}/metrics")); // the instance that wrote to held copies
            Assert.Matches(PrometheusL1Hits(), metrics);
            Assert.Contains("cachee_invalidation_ack_duration_seconds_bucket", metrics, StringComparison.Ordinal);

            // Live traffic while the browser looks: another visitor's cart changes on app-2 while app-1 and app-3 read it twice, so
            // every instance sends or receives invalidations every second (bounded: it stops with the test, or after a minute).
            using var traffic = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            var shopping = ShopAsync(ports, traffic.Token);
            try
            {
                foreach (var port in ports)
                {
                    await Eventually.TrueAsync(
                        async () => (await StatsAsync(client, port)).InvalidationsPerSecond > 0,
                        $"the instance on {port} measures invalidations over its last second", TimeSpan.FromSeconds(20));
                }

                // What the browser shows once the page's script has fetched the figures.
                var page = $"http://127.0.0.1:{ports[0]}/dashboard";
                var dom = await RunChromiumAsync(chromium, work, "--dump-dom", page);
                Assert.Contains("live: 3 of 3 instances up", dom, StringComparison.Ordinal);
                for (var i = 1; i <= 3; i++)
                {
                    var row = RowOf(dom, $"app-{i}");
                    Assert.Matches(HitRatio(), CellOf(row, "hit-ratio"));
                    Assert.Matches(Saved(), CellOf(row, "saved"));
                    Assert.Matches(PositiveRate(), CellOf(row, "invalidations"));
                    Assert.Equal("closed", CellOf(row, "breaker closed"));
                    Assert.Equal("0", CellOf(row, "replay"));
                    Assert.Equal("live", CellOf(row, "subscription live"));
                    Assert.Matches(Ack(), CellOf(row, "ack"));
                }

                // The screenshot in docs/.
                var screenshot = Path.Combine(repository, "docs", "dashboard.png");
                File.Delete(screenshot);
                _ = await RunChromiumAsync(chromium, work, $"--screenshot={screenshot}", "--window-size=1300,430", "--hide-scrollbars", page);
                var png = await File.ReadAllBytesAsync(screenshot);
                Assert.True(png.Length > 10_000, $"the screenshot has {png.Length} bytes");
                Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
            }
            finally
            {
                await traffic.CancelAsync();
                await shopping;
            }
        }
        finally
        {
            await ChildProcesses.StopAllAsync(apps);
            Directory.Delete(work, recursive: true);
        }
    }

    [GeneratedRegex(@"cachee_l1_hits\S*\{[^}]*cachee_instance=""[^""]+""[^}]*\} [1-9]")]
    private static partial Regex PrometheusL1Hits();

    [GeneratedRegex(@"^(0\.[1-9]|[1-9]\d*\.\d)$")]
    private static partial Regex PositiveRate();

    [GeneratedRegex(@"^\d{1,3}\.\d%$")]
    private static partial Regex HitRatio();

    [GeneratedRegex(@"^\d+ \(\d{1,3}% of reads\)$")]
    private static partial Regex Saved();

    [GeneratedRegex(@"^(\d+\.\d\d ms( \(all\))?|—)$")]
    private static partial Regex Ack();

    private static string RowOf(string dom, string instance)
    {
        var start = dom.IndexOf($"<tr data-instance=\"{instance}\">", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no row for {instance} in the page:\n{dom}");
        return dom[start..dom.IndexOf("</tr>", start, StringComparison.Ordinal)];
    }

    private static string CellOf(string row, string cssClass)
    {
        var match = Regex.Match(row, $"<td class=\"{Regex.Escape(cssClass)}\">(.*?)</td>");
        Assert.True(match.Success, $"no '{cssClass}' cell in {row}");
        return WebUtility.HtmlDecode(match.Groups[1].Value);
    }

    private static string FindChromium() =>
        new[] { "chromium", "chromium-browser", "google-chrome" }
            .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Select(dir => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("Chromium was not found on PATH. The dashboard test needs it: apt-get install -y chromium (.ci/test does).");

    // Bob's visits until cancelled: a change on app-2, then a read on app-1 and on app-3 (each then holds a copy again).
    private static async Task ShopAsync(int[] ports, CancellationToken cancellation)
    {
        using var handler = new HttpClientHandler { CookieContainer = new CookieContainer() };
        using var client = new HttpClient(handler);
        try
        {
            for (var item = 0; !cancellation.IsCancellationRequested; item++)
            {
                using (var response = await client.PostAsync(new Uri($"http://127.0.0.1:{ports[1]}/cart/item{item % 10}"), content: null, cancellation))
                {
                    _ = response.EnsureSuccessStatusCode();
                }

                // Two reads on each other instance per change: their copies get hit before the next change, so they hold them.
                foreach (var port in (int[])[ports[0], ports[0], ports[2], ports[2]])
                {
                    _ = await client.GetStringAsync(new Uri($"http://127.0.0.1:{port}/"), cancellation);
                }
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
        }
    }

    private static async Task<Figures> StatsAsync(HttpClient client, int port) =>
        (await client.GetFromJsonAsync<Figures>(new Uri($"http://127.0.0.1:{port}/dashboard/stats")))!;

    // The part of an instance's /dashboard/stats this test reads.
    private sealed record Figures(double InvalidationsPerSecond);

    private static async Task PostAsync(HttpClient client, int port, string path)
    {
        using var response = await client.PostAsync(new Uri($"http://127.0.0.1:{port}{path}"), content: null);
        _ = response.EnsureSuccessStatusCode();
    }

    // Chromium in its own headless mode, with a profile of its own; returns what it printed (the DOM for --dump-dom).
    private static Task<string> RunChromiumAsync(string chromium, string work, params string[] arguments) =>
        ChildProcesses.RunAsync(
            work, chromium,
            ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                $"--user-data-dir={Path.Combine(work, "chromium-profile-" + Guid.NewGuid().ToString("N"))}", "--virtual-time-budget=5000", .. arguments]);
}
