using System.Diagnostics;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// What the tests that run whole programs share: the repository's root, commands run to completion, apps started and
/// polled until they serve, all with output in files (never read through pipes, which would hold thread-pool threads).
/// </summary>
internal static class ChildProcesses
{
#if DEBUG
    public const string Configuration = "Debug";
#else
    public const string Configuration = "Release";
#endif

    /// <summary>The repository's root: the first directory above the tests holding README.md and src/Cachee.Sessions.</summary>
    public static string RepositoryRoot()
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

    /// <summary>Runs a command in <paramref name="directory"/> to completion (5 minutes at most); fails the test with its output if it fails.</summary>
    public static async Task<string> RunAsync(string directory, string command, params string[] arguments)
    {
        var log = Path.GetTempFileName();
        try
        {
            using var process = Start(directory, command, arguments, log, environment: null, exec: false);
            using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await process.WaitForExitAsync(limit.Token);
            var output = await File.ReadAllTextAsync(log);
            Assert.True(process.ExitCode == 0, $"'{command} {string.Join(' ', arguments)}' exited with {process.ExitCode}:\n{output}");
            return output;
        }
        finally
        {
            File.Delete(log);
        }
    }

    /// <summary>Starts a long-running command whose output goes to <paramref name="log"/>; the caller ends it.</summary>
    public static Process StartLogged(string command, string[] arguments, string log, IReadOnlyDictionary<string, string>? environment = null) =>
        Start(Directory.GetCurrentDirectory(), command, arguments, log, environment, exec: true);

    /// <summary>Polls <paramref name="url"/> until it answers with success, for 60 s at most, failing early if the process exits.</summary>
    public static async Task WaitUntilServingAsync(HttpClient client, Uri url, Process process)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var response = await client.GetAsync(url);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (!process.HasExited)
            {
                // Not listening yet: poll again, within the deadline.
            }

            Assert.False(process.HasExited, $"The process serving {url} exited.");
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), $"{url} did not answer within 60 s.");
            await Task.Delay(100);
        }
    }

    /// <summary>Ends processes this test started (by their own handles) and waits for them.</summary>
    public static async Task StopAllAsync(IEnumerable<Process> processes)
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
    }

    private static Process Start(string directory, string command, string[] arguments, string log, IReadOnlyDictionary<string, string>? environment, bool exec)
    {
        var start = new ProcessStartInfo("bash") { UseShellExecute = false, WorkingDirectory = directory };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add((exec ? "exec " : string.Empty) + "\"$0\" \"$@\" > \"$CHILD_LOG\" 2>&1");
        start.ArgumentList.Add(command);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["CHILD_LOG"] = log;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return Process.Start(start) ?? throw new InvalidOperationException($"{command} did not start.");
    }
}
