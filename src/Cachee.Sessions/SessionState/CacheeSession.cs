using System.Security.Cryptography;
using System.Text;
using Cachee.Sessions.Diagnostics;
using Cachee.Sessions.Threading;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.SessionState;

/// <summary>
/// One request's session over a <see cref="TieredDistributedCache"/>. It behaves as ASP.NET Core's <c>DistributedSession</c>
/// (the same checks, errors, timeouts and log events), but stores the session key by key: a commit writes only what the
/// request changed, and a read touches only the key asked for. The load starts when the session is created; a new session
/// that nothing touched costs no Redis call. Like <c>DistributedSession</c>, not safe for concurrent use by one request.
/// </summary>
internal sealed class CacheeSession : ICacheeSession
{
    private const int KeyLengthLimit = ushort.MaxValue;
    private const int IndexWriteAttempts = 16;

    private readonly TieredDistributedCache _cache;
    private readonly SessionKeys _keys;
    private readonly TimeSpan _ioTimeout;
    private readonly Func<bool> _tryEstablishSession;
    private readonly bool _isNewSessionKey;
    private readonly SessionFormat _format;
    private readonly ILogger _logger;
    private readonly DistributedCacheEntryOptions _entryOptions;

    // This request's changes: a value set, or null for a key removed. Values are private copies, never handed out.
    private readonly Dictionary<string, byte[]?> _changes = new(StringComparer.Ordinal);
    private Task<StoredSession>? _loading;
    private StoredSession? _stored;
    private bool _cleared;
    private bool _modified;
    private byte[]? _id;
    private string? _idText;

    public CacheeSession(
        TieredDistributedCache cache, string sessionKey, TimeSpan idleTimeout, TimeSpan ioTimeout, Func<bool> tryEstablishSession,
        bool isNewSessionKey, SessionFormat format, ILogger logger)
    {
        _cache = cache;
        _keys = new SessionKeys(sessionKey);
        _ioTimeout = ioTimeout;
        _tryEstablishSession = tryEstablishSession;
        _isNewSessionKey = isNewSessionKey;
        _format = format;
        _logger = logger;
        _entryOptions = new DistributedCacheEntryOptions { SlidingExpiration = idleTimeout };
    }

    /// <summary>Tests only: runs between a commit's read of the index and its versioned write, to let another commit in.</summary>
    internal Func<Task>? AfterIndexRead { get; set; }

    private RedactedKey Redacted => new(_keys.Legacy);

    /// <inheritdoc/>
    public bool IsAvailable => Load().Layout != SessionLayout.Unavailable;

    /// <inheritdoc/>
    public string Id
    {
        get
        {
            if (!IsAvailable)
            {
                return string.Empty;
            }

            return _idText ??= new Guid(IdBytes).ToString();
        }
    }

    private byte[] IdBytes => _id ??= Load().Id ?? RandomNumberGenerator.GetBytes(SessionIndex.IdLength);

    /// <inheritdoc/>
    public IEnumerable<string> Keys
    {
        get
        {
            var stored = Load();
            var keys = new List<string>();
            if (!_cleared)
            {
                keys.AddRange(stored.Names.Where(name => !_changes.TryGetValue(name, out var change) || change is not null));
            }

            keys.AddRange(_changes.Where(change => change.Value is not null && (_cleared || !stored.Has(change.Key))).Select(change => change.Key));
            return keys;
        }
    }

    /// <summary>Starts loading, unless the session key is new (nothing can be stored under it yet).</summary>
    internal void StartLoading()
    {
        if (!_isNewSessionKey)
        {
            _loading = ReadAsync();
        }
    }

    /// <inheritdoc/>
    public bool TryGetValue(string key, out byte[] value)
    {
        if (TryGetMemory(key, out var memory))
        {
            value = memory.ToArray();
            return true;
        }

        value = null!;
        return false;
    }

    /// <inheritdoc/>
    public bool TryGetMemory(string key, out ReadOnlyMemory<byte> value)
    {
        ArgumentNullException.ThrowIfNull(key);
        var found = Find(key);
        value = found ?? ReadOnlyMemory<byte>.Empty;
        return found is not null;
    }

    /// <inheritdoc/>
    public void Set(string key, byte[] value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (!IsAvailable)
        {
            return; // as DistributedSession: a session Redis could not load ignores changes
        }

        if (Encoding.UTF8.GetByteCount(key) > KeyLengthLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(key), $"The key cannot be longer than '{KeyLengthLimit}' when encoded with UTF-8.");
        }

        if (!_tryEstablishSession())
        {
            throw new InvalidOperationException("The session cannot be established after the response has started.");
        }

        _changes[key] = value.AsSpan().ToArray();
        _modified = true;
    }

    /// <inheritdoc/>
    public void Remove(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var stored = Load();
        var held = !_cleared && stored.Has(key);
        if (held)
        {
            _modified |= !_changes.TryGetValue(key, out var change) || change is not null;
            _changes[key] = null;
        }
        else
        {
            _modified |= _changes.Remove(key);
        }
    }

    /// <inheritdoc/>
    public void Clear()
    {
        var stored = Load();
        _modified |= (!_cleared && stored.Names.Count > 0) || _changes.Values.Any(change => change is not null);
        _cleared = true;
        _changes.Clear();
    }

    /// <inheritdoc/>
    public async Task LoadAsync(CancellationToken cancellationToken = default)
    {
        if (_stored is not null || _isNewSessionKey)
        {
            _ = Load();
            return;
        }

        using var timeout = new CancellationTokenSource(_ioTimeout, _cache.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        _loading ??= ReadAsync();
        try
        {
            linked.Token.ThrowIfCancellationRequested();
            _stored = await _loading.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && timeout.IsCancellationRequested)
        {
            SessionLog.SessionLoadingTimeout(_logger);
            throw new OperationCanceledException("Timed out loading the session.", ex, linked.Token);
        }
    }

    /// <inheritdoc/>
    public async Task CommitAsync(CancellationToken cancellationToken = default)
    {
        if (!_modified)
        {
            // Nothing to write, and nothing to renew: the load's reads renewed the session where it is stored (a read from Redis
            // renews the entry it reads; an L1 hit queues the renewal when one is due). A separate renewal would also make
            // Redis revoke the copies other instances track.
            return;
        }

        using var timeout = new CancellationTokenSource(_ioTimeout, _cache.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var stored = Load();
        try
        {
            var count = _format == SessionFormat.PerKey
                ? await WritePerKeyAsync(stored, linked.Token).ConfigureAwait(false)
                : await WriteLegacyAsync(stored, linked.Token).ConfigureAwait(false);
            _modified = false;
            if (stored.Layout == SessionLayout.None)
            {
                SessionLog.SessionStarted(_logger, Redacted, Id);
            }

            SessionLog.SessionStored(_logger, Redacted, Id, count);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && timeout.IsCancellationRequested)
        {
            SessionLog.SessionCommitTimeout(_logger);
            throw new OperationCanceledException("Timed out committing the session.", ex, linked.Token);
        }
    }

    // The load, waited for by a synchronous caller: it began when the session was created, so it has usually ended. Failures
    // make the session unavailable for this request, as DistributedSession's synchronous load does.
    private StoredSession Load()
    {
        if (_stored is { } stored)
        {
            return stored;
        }

        if (_isNewSessionKey)
        {
            return _stored = StoredSession.Missing;
        }

        var loading = _loading ??= ReadAsync();
        try
        {
            _ = BlockingWait.Until(loading, Timeout.InfiniteTimeSpan); // bounded: each read has the operation timeout
            return _stored = loading.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            SessionLog.SessionCacheReadException(_logger, Redacted, ex);
            return _stored = StoredSession.Unavailable;
        }
    }

    // Reads the session in the configured format first, then in the other one.
    private async Task<StoredSession> ReadAsync()
    {
        var perKeyFirst = _format == SessionFormat.PerKey;
        var stored = (perKeyFirst ? await ReadPerKeyAsync().ConfigureAwait(false) : await ReadLegacyAsync().ConfigureAwait(false))
            ?? (perKeyFirst ? await ReadLegacyAsync().ConfigureAwait(false) : await ReadPerKeyAsync().ConfigureAwait(false));
        if (stored is null)
        {
            SessionLog.AccessingExpiredSession(_logger, Redacted);
            return StoredSession.Missing;
        }

        if (stored.Id is { } id && _logger.IsEnabled(LogLevel.Debug))
        {
            SessionLog.SessionLoaded(_logger, Redacted, new Guid(id).ToString(), stored.Names.Count);
        }

        return stored;
    }

    private async Task<StoredSession?> ReadPerKeyAsync()
    {
        if (await _cache.GetAsync(_keys.Index, CancellationToken.None).ConfigureAwait(false) is not { } bytes)
        {
            return null;
        }

        SessionIndex index;
        try
        {
            index = SessionIndex.Parse(bytes);
        }
        catch (FormatException ex)
        {
            SessionLog.UnreadableSession(_logger, Redacted, ex.Message);
            return StoredSession.Corrupt(SessionLayout.PerKey);
        }

        // Every value's read starts now: L1 hits complete at once; misses go to Redis side by side, before the request asks.
        var reads = new Dictionary<string, Task<byte[]?>>(index.Names.Count, StringComparer.Ordinal);
        foreach (var name in index.Names)
        {
            reads[name] = _cache.GetAsync(_keys.Value(name), CancellationToken.None);
        }

        return StoredSession.PerKey(index, reads);
    }

    private async Task<StoredSession?> ReadLegacyAsync()
    {
        if (await _cache.GetAsync(_keys.Legacy, CancellationToken.None).ConfigureAwait(false) is not { } bytes)
        {
            return null;
        }

        try
        {
            var (id, entries) = LegacySessionFormat.Parse(bytes);
            return StoredSession.Legacy(id, entries);
        }
        catch (FormatException ex)
        {
            SessionLog.UnreadableSession(_logger, Redacted, ex.Message);
            return StoredSession.Corrupt(SessionLayout.Legacy);
        }
    }

    // The value a read sees: this request's change, else the stored value (null: none).
    private byte[]? Find(string key)
    {
        var stored = Load();
        if (_changes.TryGetValue(key, out var change))
        {
            return change;
        }

        if (_cleared || !stored.Has(key))
        {
            return null;
        }

        return stored.Values is { } values ? values.GetValueOrDefault(key) : ValueOf(stored, key);
    }

    private byte[]? ValueOf(StoredSession stored, string key)
    {
        var read = stored.Reads![key];
        try
        {
            _ = BlockingWait.Until(read, Timeout.InfiniteTimeSpan); // started at load; bounded by the operation timeout
            return read.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            SessionLog.SessionValueReadException(_logger, Redacted, ex);
            return null;
        }
    }

    // Writes what changed key by key, in one step: the values set, the keys removed and, when names came or go, the index
    // (read with its version, merged with this request's names so that another request's new keys survive, and written only
    // if Redis still holds that version, again until it does). Returns the number of keys.
    private async Task<int> WritePerKeyAsync(StoredSession stored, CancellationToken token)
    {
        var migrating = stored.Layout == SessionLayout.Legacy;
        var sets = migrating ? CurrentValues() : _changes.Where(change => change.Value is not null).Select(change => KeyValuePair.Create(change.Key, change.Value!)).ToList();
        var removed = _changes.Where(change => change.Value is null).Select(change => change.Key).ToList();
        if (_cleared)
        {
            removed.AddRange(stored.Names.Where(name => !_changes.ContainsKey(name)));
        }

        var changes = sets.Select(set => KeyValuePair.Create(_keys.Value(set.Key), (byte[]?)set.Value))
            .Concat(removed.Select(name => KeyValuePair.Create(_keys.Value(name), (byte[]?)null)))
            .ToList();
        var indexChanges = migrating || stored.Layout == SessionLayout.None || stored.Unreadable || removed.Count > 0
            || sets.Any(set => _cleared || !stored.Has(set.Key));
        var count = indexChanges
            ? await WriteWithIndexAsync(changes, sets.Select(set => set.Key).ToList(), removed, token).ConfigureAwait(false)
            : await WriteAsync(changes, token).ConfigureAwait(false);
        if (migrating)
        {
            await _cache.RemoveAsync(_keys.Legacy, token).ConfigureAwait(false); // another slot: a step of its own, after
        }

        return count;
    }

    private async Task<int> WriteAsync(List<KeyValuePair<string, byte[]?>> changes, CancellationToken token)
    {
        if (changes.Count > 0)
        {
            _ = await _cache.WriteManyAsync(changes, _entryOptions, guard: null, sync: false, token).ConfigureAwait(false);
        }

        return Keys.Count();
    }

    private async Task<int> WriteWithIndexAsync(
        List<KeyValuePair<string, byte[]?>> changes, List<string> added, List<string> removed, CancellationToken token)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (bytes, version) = await _cache.ReadFromRedisAsync(_keys.Index, sync: false, token).ConfigureAwait(false);
            SessionIndex? current = null;
            if (bytes is not null)
            {
                try
                {
                    current = SessionIndex.Parse(bytes);
                }
                catch (FormatException)
                {
                    // unreadable: replaced by this request's view
                }
            }

            if (AfterIndexRead is { } pause)
            {
                await pause().ConfigureAwait(false);
            }

            _id ??= current?.Id;
            var names = (current?.Names ?? []).Where(name => !removed.Contains(name)).ToList();
            names.AddRange(added.Where(name => !names.Contains(name)));
            var index = new SessionIndex(current?.Id ?? IdBytes, names);
            List<KeyValuePair<string, byte[]?>> all = [.. changes, KeyValuePair.Create(_keys.Index, (byte[]?)index.ToBytes())];
            if (await _cache.WriteManyAsync(all, _entryOptions, new L2.VersionGuard(_keys.Index, version), sync: false, token).ConfigureAwait(false))
            {
                return names.Count;
            }

            if (attempt == IndexWriteAttempts)
            {
                throw new InvalidOperationException($"The session's index kept changing under {IndexWriteAttempts} attempts to update it.");
            }
        }
    }

    // Writes the whole session in DistributedSession's format; a session stored key by key is then removed from that layout.
    private async Task<int> WriteLegacyAsync(StoredSession stored, CancellationToken token)
    {
        var values = CurrentValues();
        await _cache.SetAsync(_keys.Legacy, LegacySessionFormat.Write(IdBytes, values), _entryOptions, token).ConfigureAwait(false);
        if (stored.Layout == SessionLayout.PerKey)
        {
            // The index and the values share a slot: one step removes them all.
            List<KeyValuePair<string, byte[]?>> removals =
                [KeyValuePair.Create(_keys.Index, (byte[]?)null), .. stored.Names.Select(name => KeyValuePair.Create(_keys.Value(name), (byte[]?)null))];
            _ = await _cache.WriteManyAsync(removals, _entryOptions, guard: null, sync: false, token).ConfigureAwait(false);
        }

        return values.Count;
    }

    // Every key and value the session holds after this request's changes.
    private List<KeyValuePair<string, byte[]>> CurrentValues()
    {
        var values = new List<KeyValuePair<string, byte[]>>();
        foreach (var name in Keys)
        {
            if (Find(name) is { } value)
            {
                values.Add(KeyValuePair.Create(name, value));
            }
        }

        return values;
    }
}
