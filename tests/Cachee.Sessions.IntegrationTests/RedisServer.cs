using System.Diagnostics;
using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// The real <c>redis-server</c> of this test run (see <see cref="RedisProcess"/>), with an admin connection.
/// A missing <c>redis-server</c> fails the tests with instructions; it never skips them.
/// </summary>
public sealed class RedisServer : IAsyncLifetime
{
    private RedisProcess? _process;

    public string Endpoint => _process!.Endpoint;

    /// <summary>A connection allowed to run admin commands (CLIENT KILL, INFO...).</summary>
    public ConnectionMultiplexer Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _process = RedisProcess.Start();
        var options = ConfigurationOptions.Parse(Endpoint);
        options.AllowAdmin = true;
        Admin = await ConnectionMultiplexer.ConnectAsync(options);
        var deadline = Stopwatch.StartNew();
        while (!Admin.IsConnected && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            _ = await Admin.GetDatabase().PingAsync();
        }
    }

    public async Task DisposeAsync()
    {
        if (Admin is not null)
        {
            await Admin.DisposeAsync();
        }

        _process?.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisServer>
{
    public const string Name = "redis";
}
