using Cachee.Sessions.Redis;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.Validation;

/// <summary>Checks <see cref="CacheeOptions"/> at start-up; every message names the option and its allowed range.</summary>
internal sealed class CacheeOptionsValidator : IValidateOptions<CacheeOptions>
{
    internal static readonly TimeSpan MinTolerance = TimeSpan.FromMilliseconds(1);
    internal static readonly TimeSpan MaxTolerance = TimeSpan.FromHours(1);

    public ValidateOptionsResult Validate(string? name, CacheeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();

        if (options.ConnectionMultiplexerFactory is null && options.ConfigurationOptions is null
            && string.IsNullOrWhiteSpace(options.Configuration))
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.Configuration)} is required (for example \"localhost:6379\") unless "
                + $"{nameof(CacheeOptions.ConfigurationOptions)} or {nameof(CacheeOptions.ConnectionMultiplexerFactory)} is set.");
        }

        if (options.ConfigurationOptions is null && !string.IsNullOrWhiteSpace(options.Configuration))
        {
            try
            {
                _ = RedisUri.ToConfigurationString(options.Configuration);
            }
            catch (ArgumentException ex)
            {
                failures.Add($"CacheeOptions.{nameof(CacheeOptions.Configuration)}: {ex.Message.Split(" (Parameter", 2)[0]}");
            }
        }

        if (options.L1MaxBytes is < 1 or > CacheeOptions.MaxL1Bytes)
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.L1MaxBytes)} must be between 1 and {CacheeOptions.MaxL1Bytes} bytes; it is {options.L1MaxBytes}.");
        }

        if (options.L1MaxEntries < 1)
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.L1MaxEntries)} must be at least 1; it is {options.L1MaxEntries}.");
        }

        if (options.L1MaxEntryBytes < 0 || options.L1MaxEntryBytes > options.L1MaxBytes)
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.L1MaxEntryBytes)} must be between 0 and L1MaxBytes ({options.L1MaxBytes}); it is {options.L1MaxEntryBytes}.");
        }

        if (options.SlidingRefreshTolerance is { } tolerance && (tolerance < MinTolerance || tolerance > MaxTolerance))
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.SlidingRefreshTolerance)} must be between 1 ms and 1 hour, or null for the default; it is {tolerance}.");
        }

        if (options.ExpirationScanInterval < TimeSpan.FromSeconds(1) || options.ExpirationScanInterval > TimeSpan.FromHours(1))
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.ExpirationScanInterval)} must be between 1 second and 1 hour; it is {options.ExpirationScanInterval}.");
        }

        if (options.InvalidationAckTimeout < TimeSpan.Zero || options.InvalidationAckTimeout > TimeSpan.FromSeconds(5))
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.InvalidationAckTimeout)} must be between 0 and 5 seconds; it is {options.InvalidationAckTimeout}.");
        }

        if (options.L2OperationTimeout < TimeSpan.FromMilliseconds(10) || options.L2OperationTimeout > TimeSpan.FromMinutes(1))
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.L2OperationTimeout)} must be between 10 ms and 1 minute; it is {options.L2OperationTimeout}.");
        }

        if (options.CircuitBreakerFailureThreshold is < 1 or > 1000)
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.CircuitBreakerFailureThreshold)} must be between 1 and 1000; it is {options.CircuitBreakerFailureThreshold}.");
        }

        if (options.CircuitBreakerBreakDuration < TimeSpan.FromMilliseconds(10) || options.CircuitBreakerBreakDuration > TimeSpan.FromMinutes(5))
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.CircuitBreakerBreakDuration)} must be between 10 ms and 5 minutes; it is {options.CircuitBreakerBreakDuration}.");
        }

        if (!Enum.IsDefined(options.WriteFailureMode))
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.WriteFailureMode)} must be Throw or Replay; it is {(int)options.WriteFailureMode}.");
        }

        if (options.MinReplicasToAcknowledge is < 0 or > 16)
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.MinReplicasToAcknowledge)} must be between 0 and 16; it is {options.MinReplicasToAcknowledge}.");
        }
        else if (options.MinReplicasToAcknowledge > 0 && options.ConnectionMultiplexerFactory is not null)
        {
            failures.Add(
                $"CacheeOptions.{nameof(CacheeOptions.MinReplicasToAcknowledge)} needs connections of Cachee's own (each acknowledged write "
                + $"waits on one): set {nameof(CacheeOptions.Configuration)} or {nameof(CacheeOptions.ConfigurationOptions)} instead of "
                + $"{nameof(CacheeOptions.ConnectionMultiplexerFactory)}.");
        }

        if (options.LargeValueThreshold is < 1024 or > 512 * 1024 * 1024)
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.LargeValueThreshold)} must be between 1,024 bytes and 512 MiB; it is {options.LargeValueThreshold}.");
        }

        if (options.LargeValueConnections is < 0 or > 16)
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.LargeValueConnections)} must be between 0 and 16; it is {options.LargeValueConnections}.");
        }

        if (options.CompressionThreshold is < 256 or > 512 * 1024 * 1024)
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.CompressionThreshold)} must be between 256 bytes and 512 MiB; it is {options.CompressionThreshold}.");
        }

        if (options.ReplayQueueCapacity is < 1 or > 1_000_000)
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.ReplayQueueCapacity)} must be between 1 and 1,000,000; it is {options.ReplayQueueCapacity}.");
        }

        if (options.InvalidationChannel is { Length: 0 })
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.InvalidationChannel)} must not be empty; leave it null for the default.");
        }

        if (options.DataProtectionKeyRingKey is { } keyRing && string.IsNullOrWhiteSpace(keyRing))
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.DataProtectionKeyRingKey)} must not be blank; leave it null for the default.");
        }

        if (options.DataProtectionApplicationName is { } applicationName && string.IsNullOrWhiteSpace(applicationName))
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.DataProtectionApplicationName)} must not be blank; leave it null for the default.");
        }

        ValidateTls(options, failures);
        ValidateEncryption(options, failures);

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    // Keys decode to 32 bytes under unique printable ids, and writes have a key to use.
    private static void ValidateEncryption(CacheeOptions options, List<string> failures)
    {
        var keys = options.EncryptionKeys ?? [];
        var ids = new HashSet<string>(StringComparer.Ordinal);
        Span<byte> decoded = stackalloc byte[33];
        foreach (var key in keys)
        {
            if (key is null || string.IsNullOrEmpty(key.Id) || key.Id.Length > 64 || !key.Id.All(c => c is > ' ' and <= '~'))
            {
                failures.Add($"CacheeOptions.{nameof(CacheeOptions.EncryptionKeys)}: every key needs an Id of 1 to 64 printable ASCII characters without spaces; '{key?.Id}' is not one.");
                continue;
            }

            if (!ids.Add(key.Id))
            {
                failures.Add($"CacheeOptions.{nameof(CacheeOptions.EncryptionKeys)}: the Id '{key.Id}' is listed twice.");
            }

            if (!Convert.TryFromBase64String(key.Key ?? string.Empty, decoded, out var length) || length != 32)
            {
                // The key itself is a secret: never in the message.
                failures.Add($"CacheeOptions.{nameof(CacheeOptions.EncryptionKeys)}: the key '{key.Id}' must be 32 bytes in base64 (44 characters, for example from 'openssl rand -base64 32').");
            }
        }

        if (options.EncryptionActiveKeyId is { } active && !ids.Contains(active))
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.EncryptionActiveKeyId)} ('{active}') must be the Id of one of the {nameof(CacheeOptions.EncryptionKeys)}.");
        }

        if (options.EncryptValues && options.EncryptionKeyRing is null && keys.Count == 0)
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.EncryptValues)} needs keys: set {nameof(CacheeOptions.EncryptionKeys)} (configuration) or {nameof(CacheeOptions.EncryptionKeyRing)} (code).");
        }

        if (options.RequireEncryptedValues && !options.EncryptValues)
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.RequireEncryptedValues)} needs {nameof(CacheeOptions.EncryptValues)}: an instance that refuses plain entries must not write them.");
        }
    }

    // The TLS files load, and TLS is on for the connections they are meant for.
    private static void ValidateTls(CacheeOptions options, List<string> failures)
    {
        if (options.TlsCaCertificatePath is null && options.TlsClientCertificatePath is null)
        {
            if (options.TlsClientKeyPath is not null || options.TlsClientCertificatePassword is not null)
            {
                failures.Add($"CacheeOptions.{nameof(CacheeOptions.TlsClientKeyPath)} and {nameof(CacheeOptions.TlsClientCertificatePassword)} need {nameof(CacheeOptions.TlsClientCertificatePath)}.");
            }

            return;
        }

        if (options.ConnectionMultiplexerFactory is not null)
        {
            failures.Add(
                $"CacheeOptions' TLS certificates apply to connections Cachee makes; with {nameof(CacheeOptions.ConnectionMultiplexerFactory)}, "
                + "configure the certificates on that multiplexer instead.");
            return;
        }

        if (!TlsEnabled(options))
        {
            failures.Add("CacheeOptions' TLS certificates are set but TLS is off: add \"ssl=true\" to the configuration string (or set ConfigurationOptions.Ssl).");
        }

        if (options.TlsCaCertificatePath is { } authority)
        {
            TryLoad(nameof(CacheeOptions.TlsCaCertificatePath), authority, () => RedisTls.LoadAuthority(authority).Dispose(), failures);
        }

        if (options.TlsClientCertificatePath is { } client)
        {
            TryLoad(
                nameof(CacheeOptions.TlsClientCertificatePath), client,
                () => RedisTls.LoadClientCertificate(client, options.TlsClientKeyPath, options.TlsClientCertificatePassword).Dispose(), failures);
        }
    }

    private static bool TlsEnabled(CacheeOptions options)
    {
        try
        {
            return (options.ConfigurationOptions ?? StackExchange.Redis.ConfigurationOptions.Parse(RedisUri.ToConfigurationString(options.Configuration ?? string.Empty))).Ssl;
        }
        catch (ArgumentException)
        {
            return false; // a configuration string that does not parse fails on connect, with StackExchange.Redis' message
        }
    }

    private static void TryLoad(string option, string path, Action load, List<string> failures)
    {
        try
        {
            load();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException
            or InvalidOperationException or ArgumentException)
        {
            failures.Add($"CacheeOptions.{option} ('{path}') could not be loaded: {ex.Message}");
        }
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> when the options are invalid (for callers outside DI).</summary>
    internal static void ThrowIfInvalid(CacheeOptions options)
    {
        var result = new CacheeOptionsValidator().Validate(Options.DefaultName, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(CacheeOptions), result.Failures);
        }
    }
}
