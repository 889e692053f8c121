using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Text.RegularExpressions;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// The NuGet package as a user gets it. The library is packed (with its symbols package); a fresh web app is
/// made with <c>dotnet new web</c>, takes the package with <c>dotnet add package</c> from a local folder feed, gets the
/// README's quick start as its <c>Program.cs</c>, and is built and run twice against a real redis-server: a session started
/// on one process is read on the other.
/// </summary>
[Collection(ChildProcessCollection.Name)]
public sealed partial class PackageTests
{
    [Fact]
    public async Task ThePackage_InAFreshWebApp_SharesASessionAcrossTwoProcesses()
    {
        var repository = ChildProcesses.RepositoryRoot();
        var work = Directory.CreateTempSubdirectory("cachee-package-").FullName;
        var version = $"0.1.0-ci.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        var installed = Path.Combine(NuGetPackagesFolder(), "cachee.sessions", version);
        var processes = new List<Process>();
        try
        {
            // Packed from the build the tests run on.
            var feed = Path.Combine(work, "feed");
            await ChildProcesses.RunAsync(repository, "dotnet", "pack", Path.Combine("src", "Cachee.Sessions", "Cachee.Sessions.csproj"), "-c", ChildProcesses.Configuration, "--no-build",
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
            await ChildProcesses.RunAsync(work, "dotnet", "new", "web", "-o", app);
            await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="local-feed" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            await ChildProcesses.RunAsync(app, "dotnet", "add", "package", "Cachee.Sessions", "--version", version);
            using var redis = RedisProcess.Start();
            await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), QuickStart(repository).Replace("redis:6379", redis.Endpoint, StringComparison.Ordinal));
            await ChildProcesses.RunAsync(app, "dotnet", "build", "-c", "Release", "-nologo", "-o", Path.Combine(work, "out"));

            // Two processes of it, one client: signed in on the first, known on the second.
            var first = RedisProcess.FreePort();
            var second = RedisProcess.FreePort();
            foreach (var port in new[] { first, second })
            {
                processes.Add(ChildProcesses.StartLogged(
                    "dotnet", [Path.Combine(work, "out", "MyApp.dll"), "--urls", $"http://127.0.0.1:{port}"], Path.Combine(work, $"app-{port}.log"),
                    new Dictionary<string, string> { ["ASPNETCORE_ENVIRONMENT"] = "Production" }));
            }

            using var handler = new HttpClientHandler { CookieContainer = new CookieContainer() };
            using var client = new HttpClient(handler);
            await ChildProcesses.WaitUntilServingAsync(client, new Uri($"http://127.0.0.1:{first}/"), processes[0]);
            await ChildProcesses.WaitUntilServingAsync(client, new Uri($"http://127.0.0.1:{second}/"), processes[1]);

            using (var signIn = await client.PostAsync(new Uri($"http://127.0.0.1:{first}/signin/alice"), content: null))
            {
                _ = signIn.EnsureSuccessStatusCode();
            }

            Assert.Equal("hello alice", await client.GetStringAsync(new Uri($"http://127.0.0.1:{second}/")));
            Assert.Equal("hello alice", await client.GetStringAsync(new Uri($"http://127.0.0.1:{first}/")));
        }
        finally
        {
            await ChildProcesses.StopAllAsync(processes);
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

    private static string NuGetPackagesFolder() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
}
