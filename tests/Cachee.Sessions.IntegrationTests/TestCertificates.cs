using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// A private certificate authority made for one test with .NET's <see cref="CertificateRequest"/>, and certificates it issues,
/// written as PEM files to a temporary directory (deleted on disposal): what <c>redis-server</c>'s TLS options and Cachee's
/// TLS options read.
/// </summary>
internal sealed class TestCertificates : IDisposable
{
    private readonly ECDsa _authorityKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _authority;

    public TestCertificates(string name)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("cachee-tls-").FullName;
        var request = new CertificateRequest($"CN={name}", _authorityKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        _authority = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
        AuthorityFile = Path.Combine(Directory, "ca.crt");
        File.WriteAllText(AuthorityFile, _authority.ExportCertificatePem());
    }

    public string Directory { get; }

    /// <summary>The authority's certificate, PEM.</summary>
    public string AuthorityFile { get; }

    /// <summary>
    /// Issues a certificate for a server at 127.0.0.1 (and localhost), or a client certificate; returns the PEM files of the
    /// certificate and of its key.
    /// </summary>
    public (string Certificate, string Key) Issue(string fileName, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={fileName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
            request.CertificateExtensions.Add(names.Build());
        }

        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_authority, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var issued = request.Create(_authority, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7), serial);
        var certificateFile = Path.Combine(Directory, fileName + ".crt");
        var keyFile = Path.Combine(Directory, fileName + ".key");
        File.WriteAllText(certificateFile, issued.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (certificateFile, keyFile);
    }

    public void Dispose()
    {
        _authority.Dispose();
        _authorityKey.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
