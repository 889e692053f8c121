using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Cachee.Sessions.TestSupport;

/// <summary>
/// A <c>redis-server</c> process started on a free loopback port and stopped by its own process id; shared by the
/// integration tests and the benchmarks. A missing <c>redis-server</c> is an error that says how to install it.
/// <para>The server logs to a file in its own directory, not to pipes: reading a child's pipes asynchronously holds a
/// thread-pool thread per pipe for the child's whole life, and on a two-core machine two such readers left the tests' async
/// continuations waiting up to a second for the pool to grow (writes then missed their deadline).</para>
/// </summary>
internal sealed class RedisProcess : IDisposable
{
    private const int SigCont = 18;
    private const int SigStop = 19;
    private const string LogFileName = "redis.log";
    private readonly string _directory;
    private readonly string[] _arguments;
    private Process _process;

    private RedisProcess(Process process, string directory, int port, string[] arguments)
    {
        _process = process;
        _directory = directory;
        _arguments = arguments;
        Port = port;
    }

    public int Port { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>Starts a server; <paramref name="extraArguments"/> are appended to the command line.</summary>
    public static RedisProcess Start(params string[] extraArguments) =>
        Start(port => ["--port", port.ToString(CultureInfo.InvariantCulture)], extraArguments);

    /// <summary>
    /// Starts a server that accepts TLS connections only (its plain port is off), with the PEM files of its certificate, key
    /// and the certificate authority it checks client certificates against; <paramref name="requireClientCertificate"/> makes
    /// it refuse clients without one (mutual TLS).
    /// </summary>
    public static RedisProcess StartTls(string certificateFile, string keyFile, string authorityFile, bool requireClientCertificate, params string[] extraArguments) =>
        Start(
            port =>
            [
                "--port", "0", "--tls-port", port.ToString(CultureInfo.InvariantCulture), "--tls-cert-file", certificateFile,
                "--tls-key-file", keyFile, "--tls-ca-cert-file", authorityFile, "--tls-auth-clients", requireClientCertificate ? "yes" : "no",
            ],
            extraArguments);

    private static RedisProcess Start(Func<int, string[]> portArguments, string[] extraArguments)
    {
        var directory = Directory.CreateTempSubdirectory("cachee-redis-").FullName;
        var port = FreePort();
        string[] arguments =
        [
            .. portArguments(port), "--bind", "127.0.0.1", "--save", string.Empty,
            "--appendonly", "no", "--dir", directory, "--logfile", Path.Combine(directory, LogFileName), "--daemonize", "no",
            .. extraArguments,
        ];
        var server = new RedisProcess(Launch(arguments), directory, port, arguments);
        server.WaitUntilListening(TimeSpan.FromSeconds(15));
        return server;
    }

    /// <summary>
    /// Starts a replica of <paramref name="master"/> and returns once it is in sync (its link to the master is up), polling
    /// with a deadline.
    /// </summary>
    public static RedisProcess StartReplicaOf(RedisProcess master)
    {
        var replica = Start("--replicaof", "127.0.0.1", master.Port.ToString(CultureInfo.InvariantCulture));
        using var connection = StackExchange.Redis.ConnectionMultiplexer.Connect(replica.Endpoint + ",allowAdmin=true");
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        var deadline = Stopwatch.StartNew();
        var spinner = default(SpinWait);
        while (!(server.InfoRaw("replication") ?? string.Empty).Contains("master_link_status:up", StringComparison.Ordinal))
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                replica.Dispose();
                throw new InvalidOperationException($"The replica on port {replica.Port} did not come in sync with port {master.Port} within 30 s.");
            }

            spinner.SpinOnce(sleep1Threshold: 10);
        }

        return replica;
    }

    /// <summary>
    /// Starts a Redis Sentinel (redis-server in sentinel mode, from a config file it may rewrite) watching the master at
    /// <paramref name="masterPort"/> as <paramref name="serviceName"/>, with a quorum of 2 and a one-second down-after.
    /// </summary>
    public static RedisProcess StartSentinel(string serviceName, int masterPort)
    {
        var directory = Directory.CreateTempSubdirectory("cachee-sentinel-").FullName;
        var port = FreePort();
        var config = Path.Combine(directory, "sentinel.conf");
        File.WriteAllText(config, string.Join('\n',
            $"port {port}",
            "bind 127.0.0.1",
            $"dir {directory}",
            $"logfile {Path.Combine(directory, LogFileName)}",
            $"sentinel monitor {serviceName} 127.0.0.1 {masterPort} 2",
            $"sentinel down-after-milliseconds {serviceName} 1000",
            $"sentinel failover-timeout {serviceName} 10000",
            $"sentinel parallel-syncs {serviceName} 1",
            string.Empty));
        string[] arguments = [config, "--sentinel"];
        var sentinel = new RedisProcess(Launch(arguments), directory, port, arguments);
        sentinel.WaitUntilListening(TimeSpan.FromSeconds(15));
        return sentinel;
    }

    /// <summary>Freezes the server (SIGSTOP): connections stay open, nothing is answered.</summary>
    public void Pause() => Signal(SigStop);

    /// <summary>Lets a paused server run again (SIGCONT).</summary>
    public void Resume() => Signal(SigCont);

    /// <summary>Kills the server at once (SIGKILL), as a crash would.</summary>
    public void Kill()
    {
        _process.Kill();
        _process.WaitForExit();
    }

    /// <summary>
    /// Starts the server again on the same port and directory (it reloads its append-only file, if it kept one), with
    /// <paramref name="extraArguments"/> added for this start only (for example <c>--replicaof</c>).
    /// </summary>
    public void Restart(params string[] extraArguments)
    {
        _process.Dispose();
        _process = Launch([.. _arguments, .. extraArguments]);
        WaitUntilListening(TimeSpan.FromSeconds(15));
    }

    private void Signal(int signal)
    {
        if (SendSignal(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"Could not send signal {signal} to redis-server {_process.Id}.");
        }
    }

    [DllImport("libc", EntryPoint = "kill")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code enabled in every project sharing this file
    private static extern int SendSignal(int pid, int signal);
#pragma warning restore SYSLIB1054

    private static Process Launch(string[] arguments)
    {
        var executable = Find() ?? throw new InvalidOperationException(
            "redis-server was not found on PATH. The integration tests and benchmarks need a real Redis: install it with "
            + "'apt-get install -y redis-server' (Debian/Ubuntu) and run them again.");
        var start = new ProcessStartInfo(executable) { UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _ = SendSignal(_process.Id, SigCont); // a paused server would not die of SIGKILL any less, but be tidy
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
            catch (SocketException ex)
            {
                throw new InvalidOperationException(
                    $"redis-server ({string.Join(' ', _arguments)}) is not listening on port {Port} after {deadline.Elapsed.TotalSeconds:F1} s"
                    + $"{(_process.HasExited ? $" (it exited with code {_process.ExitCode})" : string.Empty)}. The end of its log:{Environment.NewLine}{LogTail()}",
                    ex);
            }
        }
    }

    private string LogTail()
    {
        var log = Path.Combine(_directory, LogFileName);
        return File.Exists(log) ? string.Join(Environment.NewLine, File.ReadLines(log).TakeLast(20)) : "(no log written)";
    }

    private static string? Find()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/bin", "/usr/sbin", "/usr/local/bin"])
            .Select(dir => Path.Combine(dir, "redis-server"))
            .FirstOrDefault(File.Exists);
    }

    /// <summary>A TCP port free on the loopback interface now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
