using System.Globalization;
using Cachee.Sessions;

// A small shop front whose session lives in Cachee: run several copies on different ports over one Redis
// and any of them serves any visitor's session.
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddCacheeSessions(o =>
{
    o.Configuration = builder.Configuration["Redis"] ?? "127.0.0.1:6379";
    o.InstanceName = "cachee-sample:";
});
builder.Services.AddSession(o => o.IdleTimeout = TimeSpan.FromMinutes(20));

var app = builder.Build();
app.UseSession();

var instance = builder.Configuration["InstanceLabel"] ?? Environment.ProcessId.ToString(CultureInfo.InvariantCulture);

app.MapGet("/", (HttpContext context, TieredDistributedCache cache) =>
{
    var visits = (context.Session.GetInt32("visits") ?? 0) + 1;
    context.Session.SetInt32("visits", visits);
    var stats = cache.GetStatistics();
    return Results.Text(
        $"instance={instance} user={context.Session.GetString("user") ?? "-"} visits={visits} "
        + $"cart={context.Session.GetString("cart") ?? ""} l1HitRatio={stats.L1HitRatio:0.00}\n");
});

app.MapPost("/signin/{user}", (HttpContext context, string user) =>
{
    context.Session.SetString("user", user);
    return Results.Text($"instance={instance} signed in as {user}\n");
});

app.MapPost("/cart/{item}", (HttpContext context, string item) =>
{
    var cart = context.Session.GetString("cart");
    context.Session.SetString("cart", string.IsNullOrEmpty(cart) ? item : cart + "," + item);
    return Results.Text($"instance={instance} added {item}\n");
});

app.Run();
