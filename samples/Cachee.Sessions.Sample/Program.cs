using System.Globalization;
using System.Text;
using Cachee.Sessions;
using OpenTelemetry.Metrics;

// A small shop front whose sessions live in Cachee: run several copies on different ports over one Redis, put any load
// balancer in front, and every copy serves every visitor's session.
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddCacheeSessions(
    o =>
    {
        o.Configuration = builder.Configuration["Redis"] ?? "127.0.0.1:6379";
        o.InstanceName = "cachee-sample:";
        o.CountL1Hits = true; // the page shows whether the session came from L1, and the hit ratio
    },
    session => session.IdleTimeout = TimeSpan.FromMinutes(20));

// Operations: Cachee's metrics for Prometheus at /metrics, its health at /healthz, and a live dashboard at /dashboard.
builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(CacheeTelemetry.MeterName).AddPrometheusExporter());
builder.Services.AddHealthChecks().AddCacheeHealthCheck();
builder.Services.AddHttpClient();
builder.Services.AddSingleton<DashboardSampler>().AddHostedService(services => services.GetRequiredService<DashboardSampler>());

var app = builder.Build();

// Noted before the session middleware, which starts loading the session as soon as it creates it.
app.Use((context, next) =>
{
    var statistics = context.RequestServices.GetRequiredService<TieredDistributedCache>().GetStatistics();
    context.Items["redis-reads-before"] = statistics.L2Hits + statistics.L2Misses;
    return next(context);
});
app.UseSession();

var instance = builder.Configuration["InstanceLabel"] ?? Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
app.MapPrometheusScrapingEndpoint();
app.MapHealthChecks("/healthz");
app.MapDashboard(instance);

// Which instance served the request, the session's contents, and this instance's L1 hit rate.
app.MapGet("/", (HttpContext context, TieredDistributedCache cache) =>
{
    _ = context.Session.Keys; // waits for the session's load
    var statistics = cache.GetStatistics();
    var source = statistics.L2Hits + statistics.L2Misses > (long)context.Items["redis-reads-before"]! ? "Redis" : "L1-hit";
    var page = new StringBuilder();
    page.Append(CultureInfo.InvariantCulture, $"instance={instance} session-from={source}");
    foreach (var key in context.Session.Keys.Order(StringComparer.Ordinal))
    {
        page.Append(CultureInfo.InvariantCulture, $" {key}={context.Session.GetString(key)}");
    }

    page.Append(CultureInfo.InvariantCulture, $" l1HitRatio={cache.GetStatistics().L1HitRatio:0.00}\n");
    return page.ToString();
});

// Writes commit before responding, so that the visitor's next request, on whichever instance, reads them.
app.MapPost("/signin/{user}", async (HttpContext context, string user) =>
{
    context.Session.SetString("user", user);
    await context.Session.CommitAsync();
    return $"instance={instance} signed in as {user}\n";
});

app.MapPost("/cart/{item}", async (HttpContext context, string item) =>
{
    var cart = context.Session.GetString("cart");
    context.Session.SetString("cart", string.IsNullOrEmpty(cart) ? item : cart + "," + item);
    await context.Session.CommitAsync();
    return $"instance={instance} added {item}\n";
});

app.Run();
