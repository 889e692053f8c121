using System.Collections.Concurrent;

namespace Cachee.Sessions.Benchmarks;

/// <summary>Collects single-request latencies across iterations, for percentiles BenchmarkDotNet cannot see inside an operation.</summary>
internal sealed class LatencyRecorder
{
    private readonly ConcurrentQueue<double> _microseconds = new();

    public void Record(TimeSpan elapsed) => _microseconds.Enqueue(elapsed.TotalMicroseconds);

    public double Percentile(double p)
    {
        var sorted = _microseconds.ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        Array.Sort(sorted);
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p / 100 * sorted.Length) - 1)];
    }
}
