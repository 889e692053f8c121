using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// Several real Kestrel instances of a small session app in this process, over one Redis, with nothing configured but
/// <c>AddCacheeSessions</c> and <c>UseSession</c>; and a client with one cookie jar that the tests send to any of them.
/// </summary>
internal sealed class SessionFleet : IAsyncDisposable
{
    private readonly string _endpoint;
    private Action<CacheeOptions>? _cache;
    private string _prefix = $"s{Guid.NewGuid():N}:";
    private readonly Dictionary<int, WebApplication> _apps = [];
    private readonly List<Uri> _addresses = [];
    private readonly List<DirectoryInfo> _contentRoots = [];
    private readonly CapturingLoggerProvider _logs = new();
    private Action<SessionOptions>? _session;
    private readonly Lazy<StackExchange.Redis.ConnectionMultiplexer> _oldStackRedis;
    private readonly HttpClientHandler _handler = new() { CookieContainer = new CookieContainer(), UseCookies = true };

    private SessionFleet(string endpoint)
    {
        _endpoint = endpoint;
        _oldStackRedis = new(() => StackExchange.Redis.ConnectionMultiplexer.Connect(endpoint));
        Client = new HttpClient(_handler);
    }

    public HttpClient Client { get; }

    public string Prefix => _prefix;

    public static Task<SessionFleet> StartAsync(RedisServer redis, int instances, Action<SessionOptions>? session = null) =>
        StartAsync(redis.Endpoint, instances, session);

    /// <summary>Instances on the Redis at <paramref name="endpoint"/>; <paramref name="cache"/> adds to their Cachee options.</summary>
    public static async Task<SessionFleet> StartAsync(
        string endpoint, int instances, Action<SessionOptions>? session = null, Action<CacheeOptions>? cache = null, string? prefixOverride = null)
    {
        var fleet = new SessionFleet(endpoint) { _session = session, _cache = cache };
        fleet._prefix = prefixOverride ?? fleet._prefix;
        for (var i = 0; i < instances; i++)
        {
            await fleet.StartInstanceAsync(i);
        }

        return fleet;
    }

    /// <summary>
    /// Adds an instance of the stack Cachee replaces (<c>AddStackExchangeRedisCache</c> + <c>AddSession</c>), sharing the Data
    /// Protection key ring and application name a migrating app gives it; returns its index.
    /// </summary>
    public async Task<int> AddOldStackInstanceAsync()
    {
        var index = _addresses.Count;
        await StartInstanceAsync(index, oldStack: true);
        return index;
    }

    /// <summary>Adds a Cachee instance with further options; returns its index.</summary>
    public async Task<int> AddInstanceAsync(Action<CacheeOptions>? cache = null)
    {
        var index = _addresses.Count;
        await StartInstanceAsync(index, extra: cache);
        return index;
    }

    /// <summary>Holds each request to <c>/pair/…</c> after its session loaded until the other request of the pair arrives too.</summary>
    public PairBarrier Pairs { get; } = new();

    public TieredDistributedCache CacheOf(int instance) => _apps[instance].Services.GetRequiredService<TieredDistributedCache>();

    public Uri Url(int instance, string path) => new(_addresses[instance], path);

    public async Task<string> GetAsync(int instance, string path)
    {
        using var response = await Client.GetAsync(Url(instance, path));
        _ = response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    public async Task<string> PostAsync(int instance, string path)
    {
        using var response = await Client.PostAsync(Url(instance, path), content: null);
        _ = response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>Asserts that a GET answers <paramref name="expected"/>; otherwise shows what the instances logged (warnings and up).</summary>
    public async Task ExpectAsync(int instance, string path, string expected)
    {
        var actual = await GetAsync(instance, path);
        Assert.True(
            actual == expected,
            $"GET {path} on instance {instance} answered '{actual}', not '{expected}'. The instances logged:\n{string.Join('\n', _logs.Lines)}");
    }

    /// <summary>Stops an instance the way a crash would leave it: gone, with nothing flushed on its behalf.</summary>
    public async Task KillAsync(int instance)
    {
        var app = _apps[instance];
        _ = _apps.Remove(instance);
        using (var abort = new CancellationTokenSource()) { await abort.CancelAsync(); await app.StopAsync(abort.Token); }
        await app.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps.Values)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        Client.Dispose();
        _handler.Dispose();
        if (_oldStackRedis.IsValueCreated)
        {
            await _oldStackRedis.Value.DisposeAsync();
        }

        foreach (var root in _contentRoots)
        {
            root.Delete(recursive: true);
        }
    }

    private async Task StartInstanceAsync(int index, bool oldStack = false, Action<CacheeOptions>? extra = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(_logs).SetMinimumLevel(LogLevel.Warning); // shown when a test's expectation fails
        // Each instance gets its own content root so that Data Protection's default application names would differ.
        var contentRoot = Directory.CreateTempSubdirectory($"cachee-app{index}-");
        _contentRoots.Add(contentRoot);
        builder.Environment.ContentRootPath = contentRoot.FullName;
        if (oldStack)
        {
            builder.Services.AddStackExchangeRedisCache(o =>
            {
                o.Configuration = _endpoint;
                o.InstanceName = _prefix;
            });
            _ = _session is null ? builder.Services.AddSession() : builder.Services.AddSession(_session);
            builder.Services.AddDataProtection()
                .SetApplicationName("Cachee.Sessions" + _prefix)
                .PersistKeysToStackExchangeRedis(() => _oldStackRedis.Value.GetDatabase(), _prefix + "cachee:data-protection-keys");
        }
        else
        {
            builder.Services.AddCacheeSessions(o =>
            {
                o.Configuration = _endpoint;
                o.InstanceName = _prefix;
                o.CountL1Hits = true;
                _cache?.Invoke(o);
                extra?.Invoke(o);
            }, _session);
        }

        var app = builder.Build();
        app.UseSession();
        app.MapGet("/ping", () => "pong"); // a request that never touches the session: the middleware still refreshes it
        app.MapGet("/get/{name}", (HttpContext c, string name) => c.Session.GetString(name) ?? "(none)");
        // Writes commit before responding: the session middleware itself commits only after the response has gone out,
        // so without this the client's next request could overtake the write (true of any IDistributedCache).
        app.MapPost("/set/{name}/{value}", async (HttpContext c, string name, string value) =>
        {
            c.Session.SetString(name, value);
            await c.Session.CommitAsync();
            return "ok";
        });
        app.MapPost("/big/{bytes:int}", async (HttpContext c, int bytes) =>
        {
            var blob = new byte[bytes];
            Random.Shared.NextBytes(blob);
            c.Session.Set("blob", blob);
            await c.Session.CommitAsync();
            return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(blob));
        });
        app.MapGet("/big", (HttpContext c) =>
            c.Session.TryGetValue("blob", out var blob) ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(blob)) : "(none)");
        // Two requests of one user, each changing its own key while the other is in flight (see Pairs).
        app.MapPost("/pair/{name}/{value}", async (HttpContext c, string name, string value) =>
        {
            await c.Session.LoadAsync();
            await Pairs.ArriveAsync();
            c.Session.SetString(name, value);
            await c.Session.CommitAsync();
            return "ok";
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        _apps[index] = app;
        _addresses.Add(new Uri(address));
    }
}
