using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// A real <c>redis-server</c> this test run starts on a free loopback port and stops by its own process id.
/// A missing <c>redis-server</c> is a failure with instructions, never a skip.
/// </summary>
public sealed class RedisServer : IAsyncLifetime
{
    private Process? _process;
    private string? _directory;

    public int Port { get; private set; }

    public string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>A connection allowed to run admin commands (CLIENT KILL, INFO, DEBUG...).</summary>
    public ConnectionMultiplexer Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var executable = Find() ?? throw new InvalidOperationException(
            "redis-server was not found on PATH. The integration tests need a real Redis: install it with "
            + "'apt-get install -y redis-server' (Debian/Ubuntu) and run the tests again.");
        _directory = Directory.CreateTempSubdirectory("cachee-redis-").FullName;
        Port = FreePort();
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
            "--save", string.Empty, "--appendonly", "no", "--dir", _directory, "--daemonize", "no" })
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Admin = await ConnectAdminAsync();
    }

    public async Task DisposeAsync()
    {
        if (Admin is not null)
        {
            await Admin.DisposeAsync();
        }

        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        if (_directory is not null)
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private async Task<ConnectionMultiplexer> ConnectAdminAsync()
    {
        var deadline = Stopwatch.StartNew();
        var spinner = default(SpinWait);
        while (true)
        {
            try
            {
                var options = ConfigurationOptions.Parse(Endpoint);
                options.AllowAdmin = true;
                options.AbortOnConnectFail = true;
                options.ConnectTimeout = 1000;
                var connection = await ConnectionMultiplexer.ConnectAsync(options);
                _ = await connection.GetDatabase().PingAsync();
                return connection;
            }
            catch (RedisConnectionException) when (deadline.Elapsed < TimeSpan.FromSeconds(15) && _process is { HasExited: false })
            {
                spinner.SpinOnce(sleep1Threshold: 10);
            }
        }
    }

    private static string? Find()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/bin", "/usr/sbin", "/usr/local/bin"])
            .Select(dir => Path.Combine(dir, "redis-server"))
            .FirstOrDefault(File.Exists);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisServer>
{
    public const string Name = "redis";
}
