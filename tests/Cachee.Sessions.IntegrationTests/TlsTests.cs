using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// Cachee over TLS, against real <c>redis-server</c> processes that accept TLS connections only, with certificates
/// this test issues from a private certificate authority.
/// </summary>
public sealed class TlsTests
{
    [Fact]
    public async Task SessionsMoveBetweenInstances_OverTls_TrustingAPrivateAuthority()
    {
        using var certificates = new TestCertificates("Cachee test CA");
        var (certificate, key) = certificates.Issue("redis", server: true);
        using var redis = RedisProcess.StartTls(certificate, key, certificates.AuthorityFile, requireClientCertificate: false);
        await using var fleet = await SessionFleet.StartAsync(
            $"rediss://127.0.0.1:{redis.Port}?checkCertificateRevocation=false", instances: 3, cache: o => o.TlsCaCertificatePath = certificates.AuthorityFile);

        Assert.Equal("ok", await fleet.PostAsync(0, "/set/cart/apples"));
        Assert.Equal("apples", await fleet.GetAsync(1, "/get/cart"));
        Assert.Equal("apples", await fleet.GetAsync(2, "/get/cart"));

        // A change on one instance reaches the copies of the others: the invalidation subscription runs over TLS too.
        Assert.Equal("ok", await fleet.PostAsync(2, "/set/cart/pears"));
        Assert.Equal("pears", await fleet.GetAsync(0, "/get/cart"));
        Assert.Equal("pears", await fleet.GetAsync(1, "/get/cart"));

        // A large session travels on the large-value connections, which use the same TLS settings.
        var hash = await fleet.PostAsync(1, "/big/400000");
        Assert.Equal(hash, await fleet.GetAsync(0, "/big"));
        Assert.Equal(hash, await fleet.GetAsync(2, "/big"));
        Assert.True(fleet.CacheOf(0).Coordinator.IsSubscribed);
    }

    [Fact]
    public async Task ServerCertificateFromAnUntrustedAuthority_IsRefused_WithAClearError()
    {
        using var trusted = new TestCertificates("Cachee test CA");
        using var unknown = new TestCertificates("Unknown CA");
        var (certificate, key) = unknown.Issue("redis", server: true);
        using var redis = RedisProcess.StartTls(certificate, key, unknown.AuthorityFile, requireClientCertificate: false);
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        await using var instances = new Instances(redis.Endpoint + ",ssl=true,checkCertificateRevocation=false,connectTimeout=2000", loggerFactory);
        var cache = instances.Create(o => o.TlsCaCertificatePath = trusted.AuthorityFile);

        var refused = await Assert.ThrowsAsync<CacheUnavailableException>(() => cache.GetAsync("k"));

        Assert.Contains("TLS certificate (CN=redis, issued by CN=Unknown CA) is not trusted", refused.Message, StringComparison.Ordinal);
        Assert.Contains(logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal) && line.Contains("certificate", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task MutualTls_TheClientCertificateIsPresented_AndWithoutOneRedisRefuses()
    {
        using var certificates = new TestCertificates("Cachee test CA");
        var (serverCertificate, serverKey) = certificates.Issue("redis", server: true);
        var (clientCertificate, clientKey) = certificates.Issue("cachee-client", server: false);
        using var redis = RedisProcess.StartTls(serverCertificate, serverKey, certificates.AuthorityFile, requireClientCertificate: true);
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        await using var instances = new Instances(redis.Endpoint + ",ssl=true,checkCertificateRevocation=false,connectTimeout=2000", loggerFactory);

        void MutualTls(CacheeOptions o)
        {
            o.TlsCaCertificatePath = certificates.AuthorityFile;
            o.TlsClientCertificatePath = clientCertificate;
            o.TlsClientKeyPath = clientKey;
        }

        var writer = await instances.StartAsync(MutualTls);
        var reader = await instances.StartAsync(MutualTls);
        await writer.SetStringAsync("k", "v1");
        Assert.Equal("v1", await reader.GetStringAsync("k"));
        await writer.SetStringAsync("k", "v2");
        Assert.Equal("v2", await reader.GetStringAsync("k"));

        // Without a client certificate, Redis (tls-auth-clients yes) lets nothing through.
        var anonymous = instances.Create(o => o.TlsCaCertificatePath = certificates.AuthorityFile);
        _ = await Assert.ThrowsAsync<CacheUnavailableException>(() => anonymous.GetAsync("k"));
    }
}
