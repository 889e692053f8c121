using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Text.RegularExpressions;
using Cachee.Sessions.Testing;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// Issue #20: the NuGet package as a user gets it. The library is packed (with its symbols package); a fresh web app is
/// made with <c>dotnet new web</c>, takes the package with <c>dotnet add package</c> from a local folder feed, gets the
/// README's quick start as its <c>Program.cs</c>, and is built and run twice against a real redis-server: a session started
/// on one process is read on the other.
/// </summary>
public sealed partial class PackageTests
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    [Fact]
    public async Task ThePackage_InAFreshWebApp_SharesASessionAcrossTwoProcesses()
    {
        var repository = RepositoryRoot();
        var work = Directory.CreateTempSubdirectory("cachee-package-").FullName;
        var version = $"0.1.0-ci.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        var installed = Path.Combine(NuGetPackagesFolder(), "cachee.sessions", version);
        var processes = new List<Process>();
        try
        {
            // Packed from the build the tests run on.
            var feed = Path.Combine(work, "feed");
            await RunAsync(repository, "dotnet", "pack", Path.Combine("src", "Cachee.Sessions", "Cachee.Sessions.csproj"), "-c", Configuration, "--no-build",
                "-o", feed, $"-p:PackageVersion={version}", "-nologo");
            var package = Path.Combine(feed, $"Cachee.Sessions.{version}.nupkg");
            Assert.True(File.Exists(Path.Combine(feed, $"Cachee.Sessions.{version}.snupkg")), "no symbols package");
            using (var zip = ZipFile.OpenRead(package))
            {
                string[] entries = [.. zip.Entries.Select(entry => entry.FullName)];
                Assert.Contains("README.md", entries);
                Assert.Contains("lib/net10.0/Cachee.Sessions.dll", entries);
                Assert.Contains("lib/net10.0/Cachee.Sessions.xml", entries);
                using var nuspec = new StreamReader(zip.Entries.Single(entry => entry.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
                var manifest = await nuspec.ReadToEndAsync();
                Assert.Contains("<license type=\"expression\">MIT</license>", manifest, StringComparison.Ordinal);
                Assert.Contains("<readme>README.md</readme>", manifest, StringComparison.Ordinal);
                Assert.Contains("<repository type=\"git\"", manifest, StringComparison.Ordinal);
            }

            // A fresh app, made and given the package the way the README says, with the README's Program.cs.
            var app = Path.Combine(work, "MyApp");
            await RunAsync(work, "dotnet", "new", "web", "-o", app);
            await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="local-feed" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            await RunAsync(app, "dotnet", "add", "package", "Cachee.Sessions", "--version", version);
            using var redis = RedisProcess.Start();
            await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), QuickStart(repository).Replace("redis:6379", redis.Endpoint, StringComparison.Ordinal));
            await RunAsync(app, "dotnet", "build", "-c", "Release", "-nologo", "-o", Path.Combine(work, "out"));

            // Two processes of it, one client: signed in on the first, known on the second.
            var first = RedisProcess.FreePort();
            var second = RedisProcess.FreePort();
            processes.Add(Start(Path.Combine(work, "out", "MyApp.dll"), first));
            processes.Add(Start(Path.Combine(work, "out", "MyApp.dll"), second));
            using var handler = new HttpClientHandler { CookieContainer = new CookieContainer() };
            using var client = new HttpClient(handler);
            await WaitUntilServingAsync(client, first, processes[0]);
            await WaitUntilServingAsync(client, second, processes[1]);

            using (var signIn = await client.PostAsync(new Uri($"http://127.0.0.1:{first}/signin/alice"), content: null))
            {
                _ = signIn.EnsureSuccessStatusCode();
            }

            Assert.Equal("hello alice", await client.GetStringAsync(new Uri($"http://127.0.0.1:{second}/")));
            Assert.Equal("hello alice", await client.GetStringAsync(new Uri($"http://127.0.0.1:{first}/")));
        }
        finally
        {
            foreach (var process in processes)
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }

                process.Dispose();
            }

            Directory.Delete(work, recursive: true);
            if (Directory.Exists(installed))
            {
                Directory.Delete(installed, recursive: true); // this test's version only
            }
        }
    }

    // The first C# block of the README's "Quick start" section.
    private static string QuickStart(string repository)
    {
        var readme = File.ReadAllText(Path.Combine(repository, "README.md"));
        var section = readme[readme.IndexOf("## Quick start", StringComparison.Ordinal)..];
        return QuickStartBlock().Match(section) is { Success: true } match
            ? match.Groups[1].Value
            : throw new InvalidOperationException("The README's quick start has no C# block.");
    }

    [GeneratedRegex("```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex QuickStartBlock();

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "README.md")) && Directory.Exists(Path.Combine(directory.FullName, "src", "Cachee.Sessions")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("The repository was not found above " + AppContext.BaseDirectory);
    }

    private static string NuGetPackagesFolder() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    private static Process Start(string dll, int port)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = false, RedirectStandardError = false };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        return Process.Start(start) ?? throw new InvalidOperationException("The app did not start.");
    }

    private static async Task WaitUntilServingAsync(HttpClient client, int port, Process process)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/"));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (!process.HasExited)
            {
                // Not listening yet: poll again, within the deadline.
            }

            Assert.False(process.HasExited, $"The app on port {port} exited with code {(process.HasExited ? process.ExitCode : 0)}.");
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), $"The app on port {port} did not serve within 60 s.");
            await Task.Delay(100);
        }
    }

    // Runs a command to completion; its output is kept in a file (not read through pipes) and shown if it fails.
    private static async Task RunAsync(string directory, string command, params string[] arguments)
    {
        var log = Path.GetTempFileName();
        try
        {
            var start = new ProcessStartInfo("bash") { UseShellExecute = false, WorkingDirectory = directory };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("\"$0\" \"$@\" > \"$LOG\" 2>&1");
            start.ArgumentList.Add(command);
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            start.Environment["LOG"] = log;
            start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            start.Environment["DOTNET_NOLOGO"] = "1";
            using var process = Process.Start(start) ?? throw new InvalidOperationException($"{command} did not start.");
            using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await process.WaitForExitAsync(limit.Token);
            if (process.ExitCode != 0)
            {
                Assert.Fail($"'{command} {string.Join(' ', arguments)}' exited with {process.ExitCode}:\n{await File.ReadAllTextAsync(log)}");
            }
        }
        finally
        {
            File.Delete(log);
        }
    }
}
