namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// The tests that start whole programs (the package test builds and runs a web app; the dashboard test runs three sample
/// processes and Chromium): they run one at a time and alone, after the other tests, so that the seconds during which they
/// take both cores (a build, four .NET processes starting, a browser) do not fall inside another test's 1 s Redis
/// operation timeouts.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ChildProcessCollection
{
    public const string Name = "child processes";
}
