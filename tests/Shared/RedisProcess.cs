using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Cachee.Sessions.Testing;

/// <summary>
/// A <c>redis-server</c> process started on a free loopback port and stopped by its own process id; shared by the
/// integration tests and the benchmarks. A missing <c>redis-server</c> is an error that says how to install it.
/// </summary>
internal sealed class RedisProcess : IDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private RedisProcess(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>Starts a server; <paramref name="extraArguments"/> are appended to the command line.</summary>
    public static RedisProcess Start(params string[] extraArguments)
    {
        var executable = Find() ?? throw new InvalidOperationException(
            "redis-server was not found on PATH. The integration tests and benchmarks need a real Redis: install it with "
            + "'apt-get install -y redis-server' (Debian/Ubuntu) and run them again.");
        var directory = Directory.CreateTempSubdirectory("cachee-redis-").FullName;
        var port = FreePort();
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string[] arguments =
        [
            "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", string.Empty,
            "--appendonly", "no", "--dir", directory, "--daemonize", "no", .. extraArguments,
        ];
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new RedisProcess(process, directory, port);
        server.WaitUntilListening(TimeSpan.FromSeconds(15));
        return server;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private void WaitUntilListening(TimeSpan limit)
    {
        var deadline = Stopwatch.StartNew();
        var spinner = default(SpinWait);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < limit && !_process.HasExited)
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
