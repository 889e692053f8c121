using System.Globalization;
using System.Reflection;
using Cachee.Sessions.Validation;

namespace Cachee.Sessions.Tests;

/// <summary>The README's options table says what <see cref="CacheeOptions"/> and the validator do: names, defaults, ranges.</summary>
public sealed class OptionsDocumentationTests
{
    private static readonly Lazy<IReadOnlyDictionary<string, (string Default, string Range)>> Table = new(ReadTable);

    private static readonly string[] OptionNames =
        [.. typeof(CacheeOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).Select(p => p.Name)];

    public static TheoryData<string> Options => [.. OptionNames];

    [Fact]
    public void TheTable_ListsEveryOption_AndNothingElse()
    {
        var documented = Table.Value.Keys.Order(StringComparer.Ordinal);
        var actual = OptionNames.Order(StringComparer.Ordinal);
        Assert.Equal(actual, documented);
    }

    [Theory]
    [MemberData(nameof(Options))]
    public void TheTable_GivesTheDefault(string option)
    {
        var value = typeof(CacheeOptions).GetProperty(option)!.GetValue(new CacheeOptions());
        Assert.Equal(Format(option, value), Table.Value[option].Default);
    }

    [Theory]
    [MemberData(nameof(Options))]
    public void TheTable_GivesTheRangeTheValidatorChecks(string option)
    {
        var expected = OptionLimits.Texts.TryGetValue(option, out var range) ? range : string.Empty;
        Assert.Equal(expected, Table.Value[option].Range);
    }

    public static TheoryData<string> RangedOptions => [.. OptionLimits.Texts.Keys.Where(option => option != nameof(CacheeOptions.L1MaxEntryBytes))];

    [Theory]
    [MemberData(nameof(RangedOptions))]
    public void TheXmlDocs_GiveTheRangeTheValidatorChecks(string option)
    {
        var docs = System.Xml.Linq.XDocument.Load(Path.Combine(AppContext.BaseDirectory, "Cachee.Sessions.xml"));
        var member = docs.Descendants("member").Single(m => (string?)m.Attribute("name") == $"P:Cachee.Sessions.CacheeOptions.{option}");
        var text = string.Join(' ', member.Value.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        var bounds = OptionLimits.Texts[option].Split(" – ");
        Assert.Contains($"Allowed: {bounds[0]} to {bounds[1]}.", text, StringComparison.Ordinal);
    }

    [Fact]
    public void TheValidator_NamesTheRangeTheTableGives()
    {
        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(
            () => CacheeOptionsValidator.ThrowIfInvalid(new CacheeOptions { Configuration = "localhost", L2OperationTimeout = TimeSpan.FromMinutes(2) }));
        Assert.Contains("CacheeOptions.L2OperationTimeout must be between 10 ms and 1 min; it is 00:02:00.", error.Message, StringComparison.Ordinal);
    }

    // How the README writes a default: sizes in binary units, durations in their largest whole unit, counts with separators.
    private static string Format(string option, object? value) => value switch
    {
        null => "—",
        System.Collections.ICollection { Count: 0 } => "—",
        bool b => b ? "true" : "false",
        Enum e => $"`{e}`",
        TimeSpan t when t.TotalSeconds < 1 => $"{t.TotalMilliseconds:0} ms",
        TimeSpan t when t.TotalMinutes < 1 => $"{t.TotalSeconds:0} s",
        TimeSpan t when t.TotalHours < 1 => $"{t.TotalMinutes:0} min",
        TimeSpan t => $"{t.TotalHours:0} h",
        int or long when option.EndsWith("Bytes", StringComparison.Ordinal) || (option.EndsWith("Threshold", StringComparison.Ordinal) && option != "CircuitBreakerFailureThreshold") =>
            Bytes(Convert.ToInt64(value, CultureInfo.InvariantCulture)),
        int or long => Convert.ToInt64(value, CultureInfo.InvariantCulture).ToString("N0", CultureInfo.InvariantCulture),
        _ => throw new InvalidOperationException($"No README format for {option} = {value}."),
    };

    private static string Bytes(long bytes) =>
        bytes % (1L << 30) == 0 ? $"{bytes >> 30} GiB" : bytes % (1L << 20) == 0 ? $"{bytes >> 20} MiB" : bytes % 1024 == 0 ? $"{bytes >> 10} KiB" : $"{bytes} B";

    // The rows of the table under "## Options": | `Name` | default | range | meaning |.
    private static IReadOnlyDictionary<string, (string Default, string Range)> ReadTable()
    {
        var lines = File.ReadAllLines(Path.Combine(RepositoryRoot(), "README.md"));
        var start = Array.IndexOf(lines, "## Options");
        Assert.True(start >= 0, "The README has no \"## Options\" section.");
        var rows = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(start + 1).SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|')).Skip(2))
        {
            var cells = line.Split('|').Select(c => c.Trim()).ToArray();
            rows.Add(cells[1].Trim('`'), (cells[2], cells[3]));
        }

        return rows;
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "README.md")) && Directory.Exists(Path.Combine(directory.FullName, "src", "Cachee.Sessions")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("The repository's root was not found above the test's directory.");
    }
}
