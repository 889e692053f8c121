using System.Globalization;
using Cachee.Sessions.Invalidation;
using StackExchange.Redis;

namespace Cachee.Sessions.L2;

/// <summary>The L2 store on Redis, in RedisCache's hash format (see <see cref="RedisScripts"/>).</summary>
internal sealed class RedisL2Store : IL2Store
{
    private readonly RedisConnection _connection;
    private readonly RedisKey _prefix;
    private readonly RedisValue _channel;
    private readonly string _channelName;
    private readonly string _origin;
    private readonly RedisValue _messagePrefix;

    public RedisL2Store(RedisConnection connection, string? instanceName, string channel, string origin)
    {
        _connection = connection;
        _prefix = string.IsNullOrEmpty(instanceName) ? default : new RedisKey(instanceName);
        _channel = channel;
        _channelName = channel;
        _origin = origin;
        _messagePrefix = InvalidationMessage.InvalidationPrefix(origin);
    }

    public async ValueTask<L2Entry?> GetAsync(
        string key, bool refreshSliding, long nowTicks, bool sync, CancellationToken token, Acknowledgement? acknowledge = null)
    {
        RedisValue[] args = acknowledge is { } ack
            ? [nowTicks, refreshSliding ? "1" : "0", InvalidationMessage.AckChannel(_channelName, ack.WriterOrigin), InvalidationMessage.FormatAck(ack.AckId, _origin)]
            : [nowTicks, refreshSliding ? "1" : "0", string.Empty, string.Empty];
        var result = await EvaluateAsync(RedisScripts.Get, key, args, sync, token).ConfigureAwait(false);
        if (result.IsNull)
        {
            return null;
        }

        var fields = (RedisResult[])result!;
        if (fields.Length < 5)
        {
            throw new L2PayloadException($"Unexpected reply of {fields.Length} fields.");
        }

        var expiration = new EntryExpiration(ParseTicks(fields[0], "absexp"), ParseTicks(fields[1], "sldexp"));
        var data = (byte[]?)fields[2] ?? throw new L2PayloadException("The data field is missing.");
        var version = fields[3].IsNull ? 0 : ParseLong(fields[3], "ver");
        return new L2Entry(data, expiration, version, (long)fields[4]);
    }

    public async ValueTask<L2WriteResult> SetAsync(
        string key, byte[] value, EntryExpiration expiration, long ttlMilliseconds, long ackId, bool sync, CancellationToken token)
    {
        RedisValue[] args =
        [
            expiration.AbsoluteTicks, expiration.SlidingTicks, value, ttlMilliseconds,
            _channel, _messagePrefix, InvalidationMessage.InvalidationSuffix(ackId, key),
        ];
        return ToWriteResult(await EvaluateAsync(RedisScripts.Set, key, args, sync, token).ConfigureAwait(false));
    }

    public async ValueTask<L2WriteResult> RemoveAsync(string key, long ackId, bool sync, CancellationToken token)
    {
        RedisValue[] args = [_channel, _messagePrefix, InvalidationMessage.InvalidationSuffix(ackId, key)];
        return ToWriteResult(await EvaluateAsync(RedisScripts.Remove, key, args, sync, token).ConfigureAwait(false));
    }

    private static L2WriteResult ToWriteResult(RedisResult result)
    {
        var pair = (RedisResult[])result!;
        return new L2WriteResult((long)pair[0], (long)pair[1]);
    }

    public async ValueTask<long> RefreshAsync(string key, long expectedVersion, long nowTicks, bool sync, CancellationToken token)
    {
        RedisValue expected = expectedVersion >= 0 ? expectedVersion.ToString(CultureInfo.InvariantCulture) : string.Empty;
        return (long)await EvaluateAsync(RedisScripts.Refresh, key, [nowTicks, expected], sync, token).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    // Sends EVALSHA (the script's hash, not its text); a server that does not know the script yet (first use, restart,
    // failover) answers NOSCRIPT, and the script is then sent once with EVAL, which also caches it there.
    private async ValueTask<RedisResult> EvaluateAsync(string script, string key, RedisValue[] args, bool sync, CancellationToken token)
    {
        token.ThrowIfCancellationRequested();
        var multiplexer = await _connection.GetAsync(sync, token).ConfigureAwait(false);
        var database = multiplexer.GetDatabase();
        RedisKey[] keys = [_prefix.Append(key)];
        var hash = RedisScripts.HashOf(script);
        try
        {
            return sync
                ? database.ScriptEvaluate(hash, keys, args)
                : await database.ScriptEvaluateAsync(hash, keys, args).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            return sync
                ? database.ScriptEvaluate(script, keys, args)
                : await database.ScriptEvaluateAsync(script, keys, args).ConfigureAwait(false);
        }
    }

    private static long ParseTicks(RedisResult field, string name)
    {
        var ticks = ParseLong(field, name);
        return ticks is EntryExpiration.None or > 0 ? ticks : throw new L2PayloadException($"The {name} field holds {ticks}.");
    }

    private static long ParseLong(RedisResult field, string name) =>
        !field.IsNull && long.TryParse((string?)field, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new L2PayloadException($"The {name} field is not a number.");
}
