using System.Reflection;
using Cachee.Sessions.Testing;
using NetArchTest.Rules;

namespace Cachee.Sessions.Tests;

/// <summary>
/// The dependency rules docs/design.md draws, checked on the compiled package, so that the drawing cannot drift from the
/// code: which folder may use which, nothing below the facade uses it, no fake ships, and only the root is public.
/// </summary>
public sealed class ArchitectureTests
{
    private const string Root = "Cachee.Sessions";
    private static readonly Assembly Package = typeof(TieredDistributedCache).Assembly;

    // Every folder of the package, and the folders each may use (besides the root's options, results and exceptions).
    // The order is bottom to top: a folder uses only folders listed before it, so there is no cycle.
    private static readonly (string Folder, string[] Uses)[] Layers =
    [
        ("Threading", []),
        ("Diagnostics", []),
        ("Invalidation", ["Threading"]),
        ("L2", ["Diagnostics", "Threading"]),
        ("L1", ["L2", "Diagnostics", "Threading"]),
        ("Payload", ["L2"]),
        ("Redis.Scripts", ["L2"]),
        ("Redis.Cluster", ["Invalidation", "L2"]),
        ("Redis", ["Redis.Cluster", "Redis.Scripts", "Invalidation", "L2", "Payload", "Diagnostics", "Threading"]),
        ("Validation", ["Redis", "Payload", "L2"]),
        ("Replay", ["L1", "L2", "Diagnostics", "Threading"]),
        ("Coordination", ["L1", "L2", "Invalidation", "Diagnostics", "Threading"]),
    ];

    public static TheoryData<string> Folders => [.. Layers.Select(layer => layer.Folder)];

    [Theory]
    [MemberData(nameof(Folders))]
    public void AFolder_UsesOnlyTheFoldersBelowIt(string folder)
    {
        var allowed = Layers.Single(layer => layer.Folder == folder).Uses;
        var forbidden = Layers.Select(layer => layer.Folder).Append("Hosting").Append("DataProtection").Append("SessionState")
            .Where(other => other != folder && !allowed.Contains(other))
            .SelectMany(TypesOf)
            .Append(typeof(TieredDistributedCache).FullName!)
            .ToArray();

        var result = Types.InAssembly(Package).That().ResideInNamespaceMatching($"^{Root}.{folder}$".Replace(".", "\\.", StringComparison.Ordinal))
            .ShouldNot().HaveDependencyOnAny(forbidden).GetResult();

        Assert.True(result.IsSuccessful, $"{folder} uses a folder it must not: {Names(result)}");
    }

    [Fact]
    public void EveryFolderOfThePackage_HasARule()
    {
        var namespaces = Package.GetTypes().Select(type => type.Namespace).OfType<string>()
            .Where(ns => ns.StartsWith(Root + ".", StringComparison.Ordinal))
            .Select(ns => ns[(Root.Length + 1)..])
            .Except(["Hosting", "DataProtection", "SessionState"])
            .ToHashSet();
        Assert.Equal(Layers.Select(layer => layer.Folder).Order(), namespaces.Order());
    }

    [Fact]
    public void NoFolderButHostingAndDataProtection_UsesThem()
    {
        var result = Types.InAssembly(Package).That().DoNotResideInNamespace($"{Root}.Hosting").And().DoNotResideInNamespace($"{Root}.DataProtection")
            .And().DoNotResideInNamespace("Microsoft")
            .ShouldNot().HaveDependencyOnAny($"{Root}.Hosting", $"{Root}.DataProtection").GetResult();
        Assert.True(result.IsSuccessful, $"Used by: {Names(result)}");
    }

    [Fact]
    public void OnlyHosting_UsesTheSessionState()
    {
        var result = Types.InAssembly(Package).That().DoNotResideInNamespace($"{Root}.Hosting").And().DoNotResideInNamespace($"{Root}.SessionState")
            .ShouldNot().HaveDependencyOn($"{Root}.SessionState").GetResult();
        Assert.True(result.IsSuccessful, $"Used by: {Names(result)}");
    }

    [Fact]
    public void OnlyTheRoot_IsPublic()
    {
        var result = Types.InAssembly(Package).That().DoNotResideInNamespaceMatching($"^{Root.Replace(".", "\\.", StringComparison.Ordinal)}$")
            .And().DoNotResideInNamespace("Microsoft.Extensions.DependencyInjection")
            .ShouldNot().BePublic().GetResult();
        Assert.True(result.IsSuccessful, $"Public outside the root: {Names(result)}");
    }

    [Fact]
    public void MicrosoftsNamespaces_HoldOnlyTheAddExtensions()
    {
        var inMicrosoft = Package.GetTypes().Where(type => type.Namespace?.StartsWith("Microsoft", StringComparison.Ordinal) == true && !IsCompilerGenerated(type));
        Assert.All(inMicrosoft, type =>
        {
            Assert.True(type is { IsPublic: true, IsAbstract: true, IsSealed: true }, $"{type} is not a public static class");
            Assert.EndsWith("Extensions", type.Name, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void ThePackage_ShipsNoFake()
    {
        var result = Types.InAssembly(Package).ShouldNot().HaveNameMatching("^(InMemory|Fake|Stub|Mock|Test)").GetResult();
        Assert.True(result.IsSuccessful, $"Named like a fake: {Names(result)}");
        Assert.DoesNotContain(Package.GetTypes(), type => type.Name.Contains("InMemory", StringComparison.Ordinal));
    }

    [Fact]
    public void TheFakes_LiveInTheTestingPackage()
    {
        var testing = typeof(CacheeTestFleet).Assembly;
        Assert.NotEqual(Package, testing);
        Assert.Contains(testing.GetTypes(), type => type.Name == "InMemoryRedis");
    }

    // The full names of the types of one folder (not of the folders inside it: Redis.Cluster is not Redis).
    private static IEnumerable<string> TypesOf(string folder) =>
        Package.GetTypes().Where(type => type.Namespace == $"{Root}.{folder}" && !type.IsNested).Select(type => type.FullName!);

    private static bool IsCompilerGenerated(Type type) =>
        type.GetCustomAttribute<System.Runtime.CompilerServices.CompilerGeneratedAttribute>() is not null || type.Name.StartsWith('<');

    private static string Names(TestResult result) => string.Join(", ", result.FailingTypeNames ?? []);
}
