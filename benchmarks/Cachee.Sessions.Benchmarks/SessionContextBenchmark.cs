using System.Diagnostics;
using System.Globalization;
using Cachee.Sessions.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using StackExchange.Redis;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// The large-context session workload, as a program (one closed-loop run per store, all in one process and one run): 3
/// instances of an app with <c>UseSession</c> behind a round-robin client, 8 users, each session a large context plus a
/// small key; 70% of requests read both, 30% read the context and change the small key (committing before they answer).
/// Stores: Cachee key by key, Cachee in <c>DistributedSession</c>'s format, Microsoft's RedisCache, and the ceiling (ASP.NET
/// Core's session over one in-process store shared by the instances). Each store gets a fresh <c>redis-server</c>.
/// Reports requests/s, p50/p99, Redis bytes per request (<c>INFO stats</c>, in and out), stale reads (a read that misses the
/// user's last acknowledged change) and lost updates (30 pairs of requests of one user, on two instances at once, each
/// changing its own key while the other is in flight).
/// <para>Run: <c>dotnet run -c Release --project benchmarks/Cachee.Sessions.Benchmarks -- session-context [seconds]</c>.</para>
/// </summary>
internal static class SessionContextBenchmark
{
    private const int Instances = 3;
    private const int Users = 8;
    private const int Pairs = 30;

    private enum Store
    {
        CacheePerKey,
        CacheeDistributedSessionFormat,
        RedisCache,
        Ceiling,
    }

    public static async Task RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20;
        ThreadPool.GetMinThreads(out var workers, out var io);
        _ = ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(io, 64)); // blocking session loads, the same for every store
        Console.WriteLine($"# Session context workload: {Instances} instances, {Users} users, 30% writes, {seconds} s measured per store after {seconds / 2} s of warm-up");
        Console.WriteLine($"# {Environment.ProcessorCount} cores, {RuntimeInformationText()}");
        foreach (var contextBytes in new[] { 1024 * 1024, 2 * 1024 * 1024 })
        {
            Console.WriteLine();
            Console.WriteLine($"## {contextBytes / 1024 / 1024} MB context");
            Console.WriteLine();
            Console.WriteLine("| store | req/s | p50 | p99 | Redis bytes/req | stale reads | lost updates |");
            Console.WriteLine("|---|---|---|---|---|---|---|");
            foreach (var store in Enum.GetValues<Store>())
            {
                var result = await RunStoreAsync(store, contextBytes, TimeSpan.FromSeconds(seconds));
                Console.WriteLine(
                    $"| {Describe(store)} | {result.RequestsPerSecond:N0} | {result.P50 / 1000:N2} ms | {result.P99 / 1000:N2} ms | "
                    + $"{result.RedisBytesPerRequest:N0} | {result.Stale} of {result.Reads} | {result.Lost} of {Pairs} |");
            }
        }
    }

    private static async Task<Result> RunStoreAsync(Store store, int contextBytes, TimeSpan measured)
    {
        using var redis = RedisProcess.Start();
        await using var fleet = await Fleet.StartAsync(store, redis.Endpoint);
        var options = ConfigurationOptions.Parse(redis.Endpoint);
        options.AllowAdmin = true;
        await using var admin = await ConnectionMultiplexer.ConnectAsync(options);
        var server = admin.GetServers().Single();

        var users = new User[Users];
        for (var u = 0; u < Users; u++)
        {
            users[u] = await fleet.NewUserAsync(u, contextBytes);
        }

        _ = await PlayAsync(fleet, users, measured / 2, recorder: null); // warm-up: the JIT, L1s, connections
        var (inBefore, outBefore) = Traffic(server);
        var recorder = new LatencyRecorder();
        var started = Stopwatch.GetTimestamp();
        var (requests, reads, stale) = await PlayAsync(fleet, users, measured, recorder);
        var elapsed = Stopwatch.GetElapsedTime(started);
        var (inAfter, outAfter) = Traffic(server);

        var lost = await LostUpdatesAsync(fleet, contextBytes);
        return new Result(
            requests / elapsed.TotalSeconds, recorder.Percentile(50), recorder.Percentile(99),
            (double)(inAfter - inBefore + outAfter - outBefore) / requests, stale, reads, lost);
    }

    // Every user sends requests one after the other until the time is up, request r to instance (user + r) % 3.
    private static async Task<(long Requests, long Reads, long Stale)> PlayAsync(Fleet fleet, User[] users, TimeSpan duration, LatencyRecorder? recorder)
    {
        var until = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var counts = await Task.WhenAll(users.Select(user => Task.Run(async () =>
        {
            long requests = 0, reads = 0, stale = 0;
            var random = new Random(user.Index);
            while (Stopwatch.GetTimestamp() < until)
            {
                var instance = (int)((user.Index + user.Requests++) % Instances);
                var write = random.Next(100) < 30;
                var started = Stopwatch.GetTimestamp();
                if (write)
                {
                    user.Step++;
                    var answer = await fleet.SendAsync(instance, HttpMethod.Post, $"/write/{user.Step}", user.Cookie).ConfigureAwait(false);
                    Expect(answer, user.Step.ToString(CultureInfo.InvariantCulture), user);
                }
                else
                {
                    var answer = await fleet.SendAsync(instance, HttpMethod.Get, "/read", user.Cookie).ConfigureAwait(false);
                    reads++;
                    stale += answer == user.Step.ToString(CultureInfo.InvariantCulture) ? 0 : 1;
                }

                recorder?.Record(Stopwatch.GetElapsedTime(started));
                requests++;
            }

            return (requests, reads, stale);
        }))).ConfigureAwait(false);
        return (counts.Sum(c => c.requests), counts.Sum(c => c.reads), counts.Sum(c => c.stale));
    }

    private static void Expect(string answer, string expected, User user)
    {
        if (answer != expected)
        {
            throw new InvalidOperationException($"User {user.Index}'s write answered '{answer}', not '{expected}': the session or its context was lost.");
        }
    }

    // Pairs of requests of one user on two instances at once, each changing its own key after both loaded the session.
    private static async Task<int> LostUpdatesAsync(Fleet fleet, int contextBytes)
    {
        var user = await fleet.NewUserAsync(Users, contextBytes);
        var lost = 0;
        for (var pair = 0; pair < Pairs; pair++)
        {
            var value = pair.ToString(CultureInfo.InvariantCulture);
            _ = await Task.WhenAll(
                fleet.SendAsync(pair % Instances, HttpMethod.Post, $"/pair/a/{value}", user.Cookie),
                fleet.SendAsync((pair + 1) % Instances, HttpMethod.Post, $"/pair/b/{value}", user.Cookie));
            var reader = (pair + 2) % Instances;
            var both = await fleet.SendAsync(reader, HttpMethod.Get, "/pair", user.Cookie);
            lost += both == $"{value},{value}" ? 0 : 1;
        }

        return lost;
    }

    private static (long In, long Out) Traffic(IServer server)
    {
        var stats = server.Info("stats").SelectMany(group => group).ToDictionary(pair => pair.Key, pair => pair.Value);
        return (long.Parse(stats["total_net_input_bytes"], CultureInfo.InvariantCulture), long.Parse(stats["total_net_output_bytes"], CultureInfo.InvariantCulture));
    }

    private static string Describe(Store store) => store switch
    {
        Store.CacheePerKey => "Cachee, key by key",
        Store.CacheeDistributedSessionFormat => "Cachee, DistributedSession format",
        Store.RedisCache => "RedisCache",
        _ => "ceiling (shared in-process store)",
    };

    private static string RuntimeInformationText() => System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription;

    private sealed record Result(double RequestsPerSecond, double P50, double P99, double RedisBytesPerRequest, long Stale, long Reads, int Lost);

    private sealed class User(int index, string cookie)
    {
        public int Index { get; } = index;

        public string Cookie { get; } = cookie;

        public long Requests { get; set; }

        public long Step { get; set; }
    }

    /// <summary>The three app instances of one store, in process (test servers), and their clients.</summary>
    private sealed class Fleet : IAsyncDisposable
    {
        private readonly List<WebApplication> _apps = [];
        private readonly List<HttpClient> _clients = [];
        private readonly PairBarrier _pairs = new();

        public static async Task<Fleet> StartAsync(Store store, string redisEndpoint)
        {
            var fleet = new Fleet();
            var shared = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions { SizeLimit = null }));
            var keys = new EphemeralDataProtectionProvider();
            var prefix = $"ctx-{store}:";
            for (var i = 0; i < Instances; i++)
            {
                var builder = WebApplication.CreateSlimBuilder();
                builder.WebHost.UseTestServer();
                builder.Logging.ClearProviders();
                switch (store)
                {
                    case Store.CacheePerKey or Store.CacheeDistributedSessionFormat:
                        builder.Services.AddCacheeSessions(o =>
                        {
                            o.Configuration = redisEndpoint;
                            o.InstanceName = prefix;
                            o.SessionFormat = store == Store.CacheePerKey ? SessionFormat.PerKey : SessionFormat.DistributedSession;
                        });
                        break;
                    case Store.RedisCache:
                        builder.Services.AddStackExchangeRedisCache(o =>
                        {
                            o.Configuration = redisEndpoint;
                            o.InstanceName = prefix;
                        });
                        builder.Services.AddSession();
                        builder.Services.AddSingleton<IDataProtectionProvider>(keys);
                        break;
                    default:
                        builder.Services.AddSingleton<IDistributedCache>(shared);
                        builder.Services.AddSession();
                        builder.Services.AddSingleton<IDataProtectionProvider>(keys);
                        break;
                }

                var app = builder.Build();
                app.UseSession();
                MapEndpoints(app, fleet._pairs);
                await app.StartAsync();
                fleet._apps.Add(app);
                fleet._clients.Add(app.GetTestClient());
            }

            return fleet;
        }

        public async Task<User> NewUserAsync(int index, int contextBytes)
        {
            using var response = await _clients[index % Instances].PostAsync($"/init/{contextBytes}", content: null);
            _ = response.EnsureSuccessStatusCode();
            var cookie = SetCookieHeaderValue.ParseList([.. response.Headers.GetValues(HeaderNames.SetCookie)]).Select(c => $"{c.Name}={c.Value}").Single();
            return new User(index, cookie);
        }

        public async Task<string> SendAsync(int instance, HttpMethod method, string path, string cookie)
        {
            using var request = new HttpRequestMessage(method, path);
            request.Headers.Add(HeaderNames.Cookie, cookie);
            using var response = await _clients[instance].SendAsync(request).ConfigureAwait(false);
            _ = response.EnsureSuccessStatusCode();
            return await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var client in _clients)
            {
                client.Dispose();
            }

            foreach (var app in _apps)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }

        // Each request uses the context the way an app that cares would on its store: without a copy where it can (the
        // extension falls back to TryGetValue, which on DistributedSession returns its own array).
        private static void MapEndpoints(WebApplication app, PairBarrier pairs)
        {
            app.MapPost("/init/{bytes:int}", async (HttpContext c, int bytes) =>
            {
                var context = new byte[bytes];
                Random.Shared.NextBytes(context);
                c.Session.Set("context", context);
                c.Session.SetString("step", "0");
                await c.Session.CommitAsync();
                return "ok";
            });
            app.MapGet("/read", (HttpContext c) => UseContext(c.Session) + (c.Session.GetString("step") ?? "(none)"));
            app.MapPost("/write/{step}", async (HttpContext c, string step) =>
            {
                var check = UseContext(c.Session);
                c.Session.SetString("step", step);
                await c.Session.CommitAsync();
                return check + step;
            });
            app.MapPost("/pair/{name}/{value}", async (HttpContext c, string name, string value) =>
            {
                await c.Session.LoadAsync();
                await pairs.ArriveAsync();
                c.Session.SetString(name, value);
                await c.Session.CommitAsync();
                return "ok";
            });
            app.MapGet("/pair", (HttpContext c) => $"{c.Session.GetString("a")},{c.Session.GetString("b")}");
        }

        // Reads the context's first and last bytes, as a request that uses it would touch it; empty when it is intact.
        private static string UseContext(ISession session) =>
            session.TryGetMemory("context", out var context) && context.Length > 0 && (context.Span[0] | context.Span[^1]) >= 0
                ? string.Empty
                : "context lost: ";
    }
}
