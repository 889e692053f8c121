using System.Diagnostics;

namespace Cachee.Sessions.TestSupport;

/// <summary>Polls a condition with a deadline: for work that happens on another thread, never a bare sleep.</summary>
internal static class Eventually
{
    /// <summary>Waits until <paramref name="condition"/> holds; on timeout, fails with <paramref name="detail"/>'s account of the state.</summary>
    public static async Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null, Func<string>? detail = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        var spinner = default(SpinWait);
        while (!condition())
        {
            if (deadline.Elapsed > limit)
            {
                Assert.Fail($"Timed out after {limit} waiting until {what}.{(detail is null ? string.Empty : $" {detail()}")}");
            }

            // Spins briefly, then yields the core (SpinWait sleeps 1 ms once it has spun enough).
            await Task.Yield();
            spinner.SpinOnce(sleep1Threshold: 10);
        }
    }

    /// <summary>Waits until the asynchronous <paramref name="condition"/> holds (it is awaited once per try).</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        var spinner = default(SpinWait);
        while (!await condition())
        {
            if (deadline.Elapsed > limit)
            {
                Assert.Fail($"Timed out after {limit} waiting until {what}.");
            }

            spinner.SpinOnce(sleep1Threshold: 10);
        }
    }
}
