using System.Diagnostics;
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

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// Three instances of one session app, each a full ASP.NET Core pipeline (in-process test server, no sockets between the
/// users and the apps), over one store; users play a fixed workload through them round robin, as a plain load balancer would.
/// </summary>
internal sealed class SessionFleetHarness : IAsyncDisposable
{
    public const int Instances = 3;
    public const int Users = 32;
    public const int RequestsPerUser = 20; // 640 requests per operation, every 10th a write

    private readonly List<WebApplication> _apps = [];
    private readonly List<HttpClient> _clients = [];
    private readonly string[] _cookies = new string[Users];
    private StackExchange.Redis.ConnectionMultiplexer? _redis;

    private SessionFleetHarness()
    {
    }

    public static int RequestsPerOperation => Users * RequestsPerUser;

    public static async Task<SessionFleetHarness> StartAsync(SessionStore store, string redisEndpoint)
    {
        // The session middleware loads sessions with a blocking Get; StackExchange.Redis' guidance for blocking callers is a
        // thread pool that does not have to grow one thread at a time under a burst. Same setting for every store.
        ThreadPool.GetMinThreads(out var workers, out var io);
        _ = ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(io, 64));
        var harness = new SessionFleetHarness();
        var sharedMemory = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
        var sharedKeys = new EphemeralDataProtectionProvider();
        var prefix = $"bench-{store}-{Guid.NewGuid():N}:";
        var redis = store == SessionStore.SharedMemoryDurableWrites ? await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redisEndpoint) : null;
        harness._redis = redis;
        for (var i = 0; i < Instances; i++)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseTestServer();
            builder.Logging.ClearProviders();
            switch (store)
            {
                case SessionStore.Cachee:
                    builder.Services.AddCacheeSessions(o =>
                    {
                        o.Configuration = redisEndpoint;
                        o.InstanceName = prefix;
                    });
                    break;
                case SessionStore.RedisCache:
                    builder.Services.AddStackExchangeRedisCache(o =>
                    {
                        o.Configuration = redisEndpoint;
                        o.InstanceName = prefix;
                    });
                    builder.Services.AddSession();
                    builder.Services.AddSingleton<IDataProtectionProvider>(sharedKeys);
                    break;
                case SessionStore.SharedMemory:
                    builder.Services.AddSingleton<IDistributedCache>(sharedMemory);
                    builder.Services.AddSession();
                    builder.Services.AddSingleton<IDataProtectionProvider>(sharedKeys);
                    break;
                case SessionStore.SharedMemoryDurableWrites:
                    builder.Services.AddSingleton<IDistributedCache>(new DurableWriteSharedMemory(sharedMemory, redis!.GetDatabase(), prefix));
                    builder.Services.AddSession();
                    builder.Services.AddSingleton<IDataProtectionProvider>(sharedKeys);
                    break;
            }

            var app = builder.Build();
            app.UseSession();
            app.MapGet("/read", (HttpContext c) => c.Session.GetString("cart") ?? string.Empty);
            app.MapPost("/write", async (HttpContext c) =>
            {
                var cart = (c.Session.GetString("cart") ?? string.Empty) + "x";
                c.Session.SetString("cart", cart.Length > 200 ? "x" : cart);

                // The session middleware would commit only after the response reached the client, who could then
                // race the write with its next request; a careful app commits first, on every store alike.
                await c.Session.CommitAsync();
                return cart;
            });
            await app.StartAsync();
            harness._apps.Add(app);
            harness._clients.Add(app.GetTestClient());
        }

        for (var user = 0; user < Users; user++)
        {
            using var response = await harness._clients[user % Instances].PostAsync("/write", content: null);
            _ = response.EnsureSuccessStatusCode();
            harness._cookies[user] = SetCookieHeaderValue.ParseList([.. response.Headers.GetValues(HeaderNames.SetCookie)])
                .Select(c => $"{c.Name}={c.Value}").Single();
        }

        return harness;
    }

    /// <summary>
    /// Plays every user's requests once: all users at the same time, each user's requests one after the other, the user's
    /// request <c>r</c> going to instance <c>(user + r) % 3</c>; every 10th request writes. Records each request's latency,
    /// and each writing request's in <paramref name="writes"/> too.
    /// </summary>
    public async Task RunAsync(LatencyRecorder? recorder, bool readOnly = false, LatencyRecorder? writes = null)
    {
        var users = new Task[Users];
        for (var user = 0; user < Users; user++)
        {
            users[user] = PlayUserAsync(user, recorder, readOnly, writes);
        }

        await Task.WhenAll(users).ConfigureAwait(false);
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

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    private async Task PlayUserAsync(int user, LatencyRecorder? recorder, bool readOnly, LatencyRecorder? writes)
    {
        for (var r = 0; r < RequestsPerUser; r++)
        {
            var write = !readOnly && (user + r) % 10 == 0;
            using var request = new HttpRequestMessage(write ? HttpMethod.Post : HttpMethod.Get, write ? "/write" : "/read");
            request.Headers.Add(HeaderNames.Cookie, _cookies[user]);
            var started = Stopwatch.GetTimestamp();
            using var response = await _clients[(user + r) % Instances].SendAsync(request).ConfigureAwait(false);
            _ = response.EnsureSuccessStatusCode();
            if ((await response.Content.ReadAsStringAsync().ConfigureAwait(false)).Length == 0)
            {
                throw new InvalidOperationException($"User {user} lost their session.");
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            recorder?.Record(elapsed);
            if (write)
            {
                writes?.Record(elapsed);
            }
        }
    }
}
