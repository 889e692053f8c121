using System.Diagnostics;

namespace Cachee.Sessions.Diagnostics;

/// <summary>
/// Cachee's spans (<see cref="CacheeTelemetry.ActivitySourceName"/>). Without a listener, <see cref="Start"/> returns null
/// and costs a check. Spans carry no key (keys are bearer secrets) and no value: the operation, whether Redis had the
/// entry, its version and its size, following OpenTelemetry's database client conventions where they apply
/// (<c>db.system.name</c> = redis, <c>db.operation.name</c>, <c>error.type</c>).
/// </summary>
internal static class CacheeActivities
{
    private static readonly ActivitySource Source = new(
        CacheeTelemetry.ActivitySourceName, typeof(CacheeActivities).Assembly.GetName().Version?.ToString(3));

    /// <summary>Starts the span of an operation on Redis (<paramref name="operation"/>: load, write, remove, renew, replay), or null.</summary>
    public static Activity? Start(string operation, long? bytes = null)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = Source.StartActivity("cachee " + operation, ActivityKind.Client);
        if (activity is { IsAllDataRequested: true })
        {
            _ = activity.SetTag("db.system.name", "redis");
            _ = activity.SetTag("db.operation.name", operation);
            if (bytes is { } size)
            {
                _ = activity.SetTag("cachee.bytes", size);
            }
        }

        return activity;
    }

    /// <summary>Starts the span of a write's wait for the acknowledgements of <paramref name="expected"/> instances, or null.</summary>
    public static Activity? StartAcknowledgementWait(long expected)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = Source.StartActivity("cachee ack wait", ActivityKind.Internal);
        _ = activity?.SetTag("cachee.ack.expected", expected);
        return activity;
    }

    /// <summary>Records a failure on the span.</summary>
    public static void Failed(Activity activity, Exception exception)
    {
        _ = activity.SetStatus(ActivityStatusCode.Error, exception.Message);
        _ = activity.SetTag("error.type", exception.GetType().FullName);
        _ = activity.AddException(exception);
    }
}
