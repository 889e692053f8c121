using StackExchange.Redis;

namespace Cachee.Sessions.Redis;

// Server-assisted tracking: finding this instance's subscriber connection and pointing the reading connection's tracking at it.
internal sealed partial class RedisInvalidationBus
{
    /// <summary>The client name the cache's own connections carry, so that the subscriber connection can be found in <c>CLIENT LIST</c>.</summary>
    public static string ClientNameFor(string origin) => "cachee-" + origin;

    // Points tracking of the reading connection at the subscriber connection's current client id, found by the multiplexer's
    // client name (Cachee names its own connections uniquely; a multiplexer from ConnectionMultiplexerFactory must carry a
    // name no other subscriber connection has). When that cannot be done (an older Redis, a user without the CLIENT command,
    // an ambiguous name), L1 still serves, coherent among Cachee instances; changes by other clients are then not revoked,
    // which is reported once.
    private async Task ArmTrackingAsync()
    {
        var multiplexer = _multiplexer!;
        try
        {
            var endpoint = multiplexer.GetSubscriber().SubscribedEndpoint(_inbox)
                ?? throw new RedisException("The subscription has no server yet.");
            var server = multiplexer.GetServer(endpoint);
            if (server.IsReplica)
            {
                ReportTrackingUnavailable("the subscription is on a replica, not on the server that serves reads");
                return;
            }

            // Sent as plain commands through the database (IServer's CLIENT methods need admin mode), which runs them on the
            // master's interactive connection: the one every read of this cache goes through, so the one to track.
            var database = multiplexer.GetDatabase();
            _ = await ArmTrackingOnAsync((command, args) => database.ExecuteAsync(command, args), string.Empty).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisServerException or RedisCommandException)
        {
            ReportTrackingUnavailable(ex.Message);
        }
    }

    // Finds this instance's subscriber connection on one server (execute runs a command on that server's interactive
    // connection) by the multiplexer's client name, and points that connection's tracking at it. False when that cannot be
    // done for good (reported); throws to be tried again when our own connection was just replaced.
    private async Task<bool> ArmTrackingOnAsync(Func<string, object[], Task<RedisResult>> execute, string where)
    {
        var name = _multiplexer!.ClientName;
        var mine = SubscriberIds((string?)await execute("CLIENT", ["LIST", "TYPE", "pubsub"]).ConfigureAwait(false), name);
        if (mine.Count != 1 && name != ClientNameFor(origin))
        {
            // A multiplexer from ConnectionMultiplexerFactory whose name other subscriber connections share.
            ReportTrackingUnavailable(
                $"{mine.Count} subscriber connections{where} are named '{name}'; give the multiplexer from ConnectionMultiplexerFactory a unique ClientName");
            return false;
        }

        if (mine.Count != 1)
        {
            // Our own connection, just reconnected: the old one may not have left the list yet. Try again shortly.
            throw new RedisException($"{mine.Count} subscriber connections{where} are named '{name}'.");
        }

        _ = await execute("CLIENT", ["TRACKING", "ON", "REDIRECT", mine[0], "NOLOOP"]).ConfigureAwait(false);
        return true;
    }

    // The ids of the lines of a CLIENT LIST reply whose name is exactly `name`.
    private static List<string> SubscriberIds(string? clientList, string name)
    {
        var ids = new List<string>();
        foreach (var line in (clientList ?? string.Empty).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split(' ');
            if (fields.Contains("name=" + name, StringComparer.Ordinal)
                && fields.FirstOrDefault(field => field.StartsWith("id=", StringComparison.Ordinal)) is { } id)
            {
                ids.Add(id["id=".Length..]);
            }
        }

        return ids;
    }

    private void ReportTrackingUnavailable(string reason)
    {
        if (Interlocked.Exchange(ref _trackingReported, 1) == 0)
        {
            _listener?.OnRevocationUnavailable(reason);
        }
    }
}
