using System.Buffers;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions;

// The public surface: arguments are checked here, once; everything below shares one implementation for sync and async.
public sealed partial class TieredDistributedCache
{
    /// <inheritdoc/>
    public byte[]? Get(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (_l1.TryServe(key, out var value))
        {
            _l1Hits?.Increment();
            return value;
        }

        return ReadCoreAsync(key, sync: true, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <inheritdoc/>
    public Task<byte[]?> GetAsync(string key, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        token.ThrowIfCancellationRequested();
        if (_l1.TryServeTask(key, out var hit))
        {
            _l1Hits?.Increment();
            return hit;
        }

        return ReadCoreAsync(key, sync: false, token).AsTask();
    }

    /// <inheritdoc/>
    public bool TryGet(string key, IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(destination);
        if (_l1.TryServe(key, out var value))
        {
            _l1Hits?.Increment();
            return CopyTo(value, destination);
        }

        return CopyTo(ReadCoreAsync(key, sync: true, CancellationToken.None).GetAwaiter().GetResult(), destination);
    }

    /// <inheritdoc/>
    public ValueTask<bool> TryGetAsync(string key, IBufferWriter<byte> destination, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(destination);
        token.ThrowIfCancellationRequested();
        if (_l1.TryServe(key, out var value))
        {
            _l1Hits?.Increment();
            return new(CopyTo(value, destination));
        }

        return ReadIntoAsync(key, destination, token);
    }

    /// <inheritdoc/>
    public void Set(string key, byte[] value, DistributedCacheEntryOptions options)
    {
        ValidateSet(key, value, options);
        WriteCoreAsync(key, value, options, sync: true, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <inheritdoc/>
    public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        ValidateSet(key, value, options);
        token.ThrowIfCancellationRequested();
        return WriteCoreAsync(key, value, options, sync: false, token).AsTask();
    }

    /// <inheritdoc/>
    public void Set(string key, ReadOnlySequence<byte> value, DistributedCacheEntryOptions options)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(options);
        WriteCoreAsync(key, value.ToArray(), options, sync: true, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <inheritdoc/>
    public ValueTask SetAsync(string key, ReadOnlySequence<byte> value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(options);
        token.ThrowIfCancellationRequested();
        return WriteCoreAsync(key, value.ToArray(), options, sync: false, token);
    }

    /// <inheritdoc/>
    public void Refresh(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        RefreshCoreAsync(key, sync: true, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <inheritdoc/>
    public Task RefreshAsync(string key, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        token.ThrowIfCancellationRequested();
        return RefreshCoreAsync(key, sync: false, token).AsTask();
    }

    /// <inheritdoc/>
    public void Remove(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        RemoveCoreAsync(key, sync: true, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <inheritdoc/>
    public Task RemoveAsync(string key, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        token.ThrowIfCancellationRequested();
        return RemoveCoreAsync(key, sync: false, token).AsTask();
    }

    private static void ValidateSet(string key, byte[] value, DistributedCacheEntryOptions options)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(options);
    }

    private static bool CopyTo(byte[]? value, IBufferWriter<byte> destination)
    {
        if (value is null)
        {
            return false;
        }

        destination.Write(value);
        return true;
    }

    private async ValueTask<bool> ReadIntoAsync(string key, IBufferWriter<byte> destination, CancellationToken token) =>
        CopyTo(await ReadCoreAsync(key, sync: false, token).ConfigureAwait(false), destination);
}
