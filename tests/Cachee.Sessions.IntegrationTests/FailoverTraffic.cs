using System.Diagnostics;
using Microsoft.Extensions.Caching.Distributed;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// The traffic of a failover test and what it saw: writes of a new key each (those acknowledged remembered, those refused
/// paced and counted), each read back on another instance (a different value is a stale read; unavailable is not), and when
/// the watched writes resumed after the fault: the first success after their last refusal. Bounded in time by its caller.
/// </summary>
internal sealed class FailoverTraffic(ITestOutputHelper output)
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };
    private readonly List<(string Key, byte[] Value)> _acknowledged = [];
    private readonly HashSet<string> _reasons = new(StringComparer.Ordinal);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _faultAt;
    private TimeSpan _resumedAt;

    public TimeSpan Elapsed => _clock.Elapsed;

    public int Acknowledged => _acknowledged.Count;

    public int Stale { get; private set; }

    public int Refused { get; private set; }

    /// <summary>Refused writes that were not watched (on a cluster, those to the shards that did not fail).</summary>
    public int RefusedUnwatched { get; private set; }

    /// <summary>Watched writes acknowledged in a row since the last refused one (after the fault).</summary>
    public int SinceRefusal { get; private set; }

    /// <summary>How long after the fault the watched writes were taken again for good (zero when never refused).</summary>
    public TimeSpan Resumed => _resumedAt == TimeSpan.Zero ? TimeSpan.Zero : _resumedAt - _faultAt;

    /// <summary>The fault, started beside the traffic (a failover takes seconds), or null before.</summary>
    public Task? Fault { get; private set; }

    /// <summary>Whether the fault is over and 200 watched writes in a row were taken since the last refusal.</summary>
    public bool Settled => Fault is { IsCompleted: true } && SinceRefusal >= 200;

    public void StartFault(Func<Task> fault)
    {
        Fault = Task.Run(fault);
        _faultAt = _clock.Elapsed;
    }

    /// <summary>Writes <paramref name="key"/> on <paramref name="writer"/> and reads it back on <paramref name="reader"/>.</summary>
    public async Task RoundAsync(IDistributedCache writer, IDistributedCache reader, string key, byte[] value, bool watched = true)
    {
        try
        {
            await writer.SetAsync(key, value, Sliding);
            _acknowledged.Add((key, value));
            if (watched && Fault is not null)
            {
                _resumedAt = SinceRefusal == 0 ? _clock.Elapsed : _resumedAt;
                SinceRefusal++;
            }
        }
        catch (CacheUnavailableException ex)
        {
            Refused++;
            if (!watched)
            {
                RefusedUnwatched++;
                output.WriteLine($"{_clock.Elapsed}: an unwatched write was refused: {ex}");
            }
            else
            {
                SinceRefusal = 0;
                _resumedAt = TimeSpan.Zero;
                if (_reasons.Add(ex.Message[..Math.Min(60, ex.Message.Length)]))
                {
                    output.WriteLine($"{_clock.Elapsed - _faultAt} after the fault, refused: {ex.Message} {ex.InnerException?.Message}");
                }
            }

            // Refused (an open breaker refuses at once): pace the retries rather than spin a core the election needs.
            await Task.Delay(5);
            return;
        }

        try
        {
            if (!(await reader.GetAsync(key)).AsSpan().SequenceEqual(value))
            {
                Stale++;
            }
        }
        catch (CacheUnavailableException)
        {
            // Unavailable is not stale.
        }
    }

    /// <summary>Waits for the fault, checks the watched writes resumed, and counts the acknowledged writes Redis lost.</summary>
    public async Task<int> FinishAsync(IDatabase promoted, string prefix)
    {
        Assert.NotNull(Fault);
        await Fault;
        Assert.True(SinceRefusal >= 200, $"the writes did not resume within the test's bound ({SinceRefusal} since the last refusal)");
        var lost = 0;
        foreach (var (key, value) in _acknowledged)
        {
            if (!((byte[]?)await promoted.HashGetAsync(prefix + key, "data")).AsSpan().SequenceEqual(value))
            {
                lost++;
            }
        }

        return lost;
    }
}
