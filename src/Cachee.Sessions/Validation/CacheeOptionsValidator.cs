using Cachee.Sessions.Redis;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.Validation;

/// <summary>Checks <see cref="CacheeOptions"/> at start-up; every message names the option and its allowed range.</summary>
internal sealed class CacheeOptionsValidator : IValidateOptions<CacheeOptions>
{
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

        OptionLimits.L1MaxBytes.Check(nameof(CacheeOptions.L1MaxBytes), options.L1MaxBytes, failures);
        OptionLimits.L1MaxEntries.Check(nameof(CacheeOptions.L1MaxEntries), options.L1MaxEntries, failures);

        if (options.L1MaxEntryBytes < 0 || options.L1MaxEntryBytes > options.L1MaxBytes)
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.L1MaxEntryBytes)} must be between 0 and L1MaxBytes ({options.L1MaxBytes}); it is {options.L1MaxEntryBytes}.");
        }

        if (options.SlidingRefreshTolerance is { } tolerance && !OptionLimits.SlidingRefreshTolerance.Contains(tolerance))
        {
            failures.Add(OptionLimits.SlidingRefreshTolerance.Violation(nameof(CacheeOptions.SlidingRefreshTolerance), tolerance) + " Leave it null for the default.");
        }

        OptionLimits.ExpirationScanInterval.Check(nameof(CacheeOptions.ExpirationScanInterval), options.ExpirationScanInterval, failures);
        OptionLimits.InvalidationAckTimeout.Check(nameof(CacheeOptions.InvalidationAckTimeout), options.InvalidationAckTimeout, failures);
        OptionLimits.L2OperationTimeout.Check(nameof(CacheeOptions.L2OperationTimeout), options.L2OperationTimeout, failures);
        OptionLimits.CircuitBreakerFailureThreshold.Check(nameof(CacheeOptions.CircuitBreakerFailureThreshold), options.CircuitBreakerFailureThreshold, failures);
        OptionLimits.CircuitBreakerBreakDuration.Check(nameof(CacheeOptions.CircuitBreakerBreakDuration), options.CircuitBreakerBreakDuration, failures);

        if (!Enum.IsDefined(options.WriteFailureMode))
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.WriteFailureMode)} must be Throw or Replay; it is {(int)options.WriteFailureMode}.");
        }

        if (!Enum.IsDefined(options.SessionFormat))
        {
            failures.Add($"CacheeOptions.{nameof(CacheeOptions.SessionFormat)} must be PerKey or DistributedSession; it is {(int)options.SessionFormat}.");
        }

        if (!OptionLimits.MinReplicasToAcknowledge.Contains(options.MinReplicasToAcknowledge))
        {
            failures.Add(OptionLimits.MinReplicasToAcknowledge.Violation(nameof(CacheeOptions.MinReplicasToAcknowledge), options.MinReplicasToAcknowledge));
        }
        else if (options.MinReplicasToAcknowledge > 0 && options.ConnectionMultiplexerFactory is not null)
        {
            failures.Add(
                $"CacheeOptions.{nameof(CacheeOptions.MinReplicasToAcknowledge)} needs connections of Cachee's own (each acknowledged write "
                + $"waits on one): set {nameof(CacheeOptions.Configuration)} or {nameof(CacheeOptions.ConfigurationOptions)} instead of "
                + $"{nameof(CacheeOptions.ConnectionMultiplexerFactory)}.");
        }

        OptionLimits.LargeValueThreshold.Check(nameof(CacheeOptions.LargeValueThreshold), options.LargeValueThreshold, failures);
        OptionLimits.LargeValueConnections.Check(nameof(CacheeOptions.LargeValueConnections), options.LargeValueConnections, failures);
        OptionLimits.CompressionThreshold.Check(nameof(CacheeOptions.CompressionThreshold), options.CompressionThreshold, failures);
        OptionLimits.ReplayQueueCapacity.Check(nameof(CacheeOptions.ReplayQueueCapacity), options.ReplayQueueCapacity, failures);

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
