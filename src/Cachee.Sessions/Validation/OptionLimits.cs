using Cachee.Sessions.Redis;


namespace Cachee.Sessions.Validation;

/// <summary>
/// The allowed range of each bounded option, in one place: the validator checks against these, its messages and the
/// README's options table print them (a test compares the table with these and with the defaults of <see cref="CacheeOptions"/>).
/// </summary>
internal static class OptionLimits
{
    public static readonly OptionRange<long> L1MaxBytes = new(1, CacheeOptions.MaxL1Bytes, "1 B", "64 GiB");
    public static readonly OptionRange<int> L1MaxEntries = new(1, int.MaxValue, "1", "2,147,483,647");
    public static readonly OptionRange<TimeSpan> SlidingRefreshTolerance = new(TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1), "1 ms", "1 h");
    public static readonly OptionRange<TimeSpan> ExpirationScanInterval = new(TimeSpan.FromSeconds(1), TimeSpan.FromHours(1), "1 s", "1 h");
    public static readonly OptionRange<TimeSpan> InvalidationAckTimeout = new(TimeSpan.Zero, TimeSpan.FromSeconds(5), "0", "5 s");
    public static readonly OptionRange<TimeSpan> L2OperationTimeout = new(TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1), "10 ms", "1 min");
    public static readonly OptionRange<int> CircuitBreakerFailureThreshold = new(1, 1000, "1", "1,000");
    public static readonly OptionRange<TimeSpan> CircuitBreakerBreakDuration = new(TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(5), "10 ms", "5 min");
    public static readonly OptionRange<int> MinReplicasToAcknowledge = new(0, 16, "0", "16");
    public static readonly OptionRange<int> ReplayQueueCapacity = new(1, 1_000_000, "1", "1,000,000");
    public static readonly OptionRange<int> LargeValueThreshold = new(1024, 512 * 1024 * 1024, "1 KiB", "512 MiB");
    public static readonly OptionRange<int> LargeValueConnections = new(0, 16, "0", "16");
    public static readonly OptionRange<int> CompressionThreshold = new(256, 512 * 1024 * 1024, "256 B", "512 MiB");

    /// <summary>Every bounded option by name, with its range as the README prints it ("min – max").</summary>
    public static IReadOnlyDictionary<string, string> Texts { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [nameof(CacheeOptions.L1MaxBytes)] = L1MaxBytes.Text,
        [nameof(CacheeOptions.L1MaxEntries)] = L1MaxEntries.Text,
        [nameof(CacheeOptions.L1MaxEntryBytes)] = "0 – L1MaxBytes",
        [nameof(CacheeOptions.SlidingRefreshTolerance)] = SlidingRefreshTolerance.Text,
        [nameof(CacheeOptions.ExpirationScanInterval)] = ExpirationScanInterval.Text,
        [nameof(CacheeOptions.InvalidationAckTimeout)] = InvalidationAckTimeout.Text,
        [nameof(CacheeOptions.L2OperationTimeout)] = L2OperationTimeout.Text,
        [nameof(CacheeOptions.CircuitBreakerFailureThreshold)] = CircuitBreakerFailureThreshold.Text,
        [nameof(CacheeOptions.CircuitBreakerBreakDuration)] = CircuitBreakerBreakDuration.Text,
        [nameof(CacheeOptions.MinReplicasToAcknowledge)] = MinReplicasToAcknowledge.Text,
        [nameof(CacheeOptions.ReplayQueueCapacity)] = ReplayQueueCapacity.Text,
        [nameof(CacheeOptions.LargeValueThreshold)] = LargeValueThreshold.Text,
        [nameof(CacheeOptions.LargeValueConnections)] = LargeValueConnections.Text,
        [nameof(CacheeOptions.CompressionThreshold)] = CompressionThreshold.Text,
    };
}

/// <summary>An option's allowed range, inclusive, with its bounds in words.</summary>
/// <typeparam name="T">The option's type.</typeparam>
internal sealed record OptionRange<T>(T Min, T Max, string MinText, string MaxText)
    where T : IComparable<T>
{
    /// <summary>The range as the README prints it.</summary>
    public string Text => $"{MinText} – {MaxText}";

    public bool Contains(T value) => value.CompareTo(Min) >= 0 && value.CompareTo(Max) <= 0;

    /// <summary>Adds the validator's message to <paramref name="failures"/> when <paramref name="value"/> is outside the range.</summary>
    public void Check(string option, T value, List<string> failures)
    {
        if (!Contains(value))
        {
            failures.Add(Violation(option, value));
        }
    }

    /// <summary>The validator's message for an option outside the range.</summary>
    public string Violation(string option, T value) => $"CacheeOptions.{option} must be between {MinText} and {MaxText}; it is {value}.";
}
