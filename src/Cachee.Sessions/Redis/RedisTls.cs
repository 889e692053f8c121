using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis;

/// <summary>
/// The TLS settings of <see cref="CacheeOptions"/> (<see cref="CacheeOptions.TlsCaCertificatePath"/>, the client certificate)
/// applied to the configuration of every connection Cachee makes: the shared one, the large-value and acknowledged-write
/// connections, and so the subscription and the Data Protection key ring, which use the shared one. Certificates are loaded
/// once, by the cache's connection. Validation stays on: a server certificate is accepted when the machine trusts it, or when
/// it chains to the configured certificate authority; a name mismatch is refused either way. A refusal is reported (why, in
/// words) to <c>refused</c>, since StackExchange.Redis itself only says that no connection is available.
/// </summary>
internal sealed class RedisTls
{
    private readonly X509Certificate2? _authority;
    private readonly X509Certificate2? _clientCertificate;
    private readonly Action<string> _refused;

    private RedisTls(CacheeOptions options, Action<string> refused)
    {
        _refused = refused;
        _authority = options.TlsCaCertificatePath is { } authority ? LoadAuthority(authority) : null;
        _clientCertificate = options.TlsClientCertificatePath is { } certificate
            ? LoadClientCertificate(certificate, options.TlsClientKeyPath, options.TlsClientCertificatePassword)
            : null;
    }

    /// <summary>The TLS settings of <paramref name="options"/>, loaded; null when it sets none.</summary>
    public static RedisTls? From(CacheeOptions options, Action<string> refused) =>
        options.TlsCaCertificatePath is null && options.TlsClientCertificatePath is null ? null : new RedisTls(options, refused);

    /// <summary>Adds these settings to <paramref name="configuration"/> (a copy Cachee owns).</summary>
    public void ApplyTo(ConfigurationOptions configuration)
    {
        if (_authority is not null)
        {
            var checkRevocation = configuration.CheckCertificateRevocation;
            configuration.CertificateValidation += (_, certificate, chain, errors) => Validate(certificate, chain, errors, checkRevocation);
        }

        if (_clientCertificate is { } client)
        {
            configuration.CertificateSelection += (_, _, _, _, _) => client;
        }
    }

    /// <summary>A certificate authority file, PEM or DER.</summary>
    internal static X509Certificate2 LoadAuthority(string path) => X509CertificateLoader.LoadCertificateFromFile(path);

    /// <summary>
    /// A client certificate with its private key: a PKCS#12 file (<c>.pfx</c>, <c>.p12</c>, with <paramref name="password"/>),
    /// or a PEM certificate with its key in <paramref name="keyPath"/> (or in the same file when that is null).
    /// </summary>
    internal static X509Certificate2 LoadClientCertificate(string path, string? keyPath, string? password)
    {
        var extension = Path.GetExtension(path);
        var certificate = extension.Equals(".pfx", StringComparison.OrdinalIgnoreCase) || extension.Equals(".p12", StringComparison.OrdinalIgnoreCase)
            ? X509CertificateLoader.LoadPkcs12FromFile(path, password)
            : X509Certificate2.CreateFromPemFile(path, keyPath);
        return certificate.HasPrivateKey
            ? certificate
            : throw new InvalidOperationException($"The client certificate in '{path}' comes without its private key.");
    }

    private bool Validate(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, bool checkRevocation)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true; // the machine trusts it
        }

        if (certificate is null || errors != SslPolicyErrors.RemoteCertificateChainErrors)
        {
            _refused(certificate is null
                ? "the Redis server presented no TLS certificate"
                : $"the Redis server's TLS certificate ({certificate.Subject}) is not valid for the host connected to ({errors})");
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        _ = custom.ChainPolicy.CustomTrustStore.Add(_authority!);
        custom.ChainPolicy.RevocationMode = checkRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements)
            {
                _ = custom.ChainPolicy.ExtraStore.Add(element.Certificate); // intermediates the server sent
            }
        }

        using var presented = certificate as X509Certificate2 is null ? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()) : null;
        if (custom.Build(presented ?? (X509Certificate2)certificate))
        {
            return true;
        }

        var statuses = string.Join(", ", custom.ChainStatus.Select(status => status.Status).Distinct());
        var revocation = custom.ChainStatus.Any(status => status.Status is X509ChainStatusFlags.RevocationStatusUnknown or X509ChainStatusFlags.OfflineRevocation)
            ? "; its revocation could not be checked: add checkCertificateRevocation=false to the configuration if the authority publishes no revocation list"
            : string.Empty;
        _refused(
            $"the Redis server's TLS certificate ({certificate.Subject}, issued by {certificate.Issuer}) is not trusted: it does not chain to the "
            + $"machine's authorities nor to {nameof(CacheeOptions.TlsCaCertificatePath)} ({statuses}){revocation}");
        return false;
    }
}
