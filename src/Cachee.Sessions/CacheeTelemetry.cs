namespace Cachee.Sessions;

/// <summary>
/// The names under which Cachee.Sessions reports to OpenTelemetry (or any <c>System.Diagnostics</c> listener). With the
/// OpenTelemetry SDK: <c>.WithMetrics(m =&gt; m.AddMeter(CacheeTelemetry.MeterName))</c> and
/// <c>.WithTracing(t =&gt; t.AddSource(CacheeTelemetry.ActivitySourceName))</c>; nothing else is needed.
/// </summary>
public static class CacheeTelemetry
{
    /// <summary>The meter of Cachee's metrics (created through the application's <c>IMeterFactory</c>).</summary>
    public const string MeterName = "Cachee.Sessions";

    /// <summary>
    /// The activity source of Cachee's spans: one per operation that goes to Redis (load, write, remove, renew, replay) and
    /// per wait for acknowledgements. L1 hits make none.
    /// </summary>
    public const string ActivitySourceName = "Cachee.Sessions";
}
