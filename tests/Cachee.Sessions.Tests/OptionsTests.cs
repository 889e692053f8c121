using Cachee.Sessions.Redis;
using Cachee.Sessions.Validation;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.Tests;

public sealed class OptionsTests
{
    [Theory]
    [InlineData(nameof(CacheeOptions.Configuration))]
    [InlineData(nameof(CacheeOptions.L1MaxBytes))]
    [InlineData(nameof(CacheeOptions.L1MaxEntries))]
    [InlineData(nameof(CacheeOptions.L1MaxEntryBytes))]
    [InlineData(nameof(CacheeOptions.SlidingRefreshTolerance))]
    [InlineData(nameof(CacheeOptions.ExpirationScanInterval))]
    [InlineData(nameof(CacheeOptions.InvalidationChannel))]
    [InlineData(nameof(CacheeOptions.L2OperationTimeout))]
    [InlineData(nameof(CacheeOptions.CircuitBreakerFailureThreshold))]
    [InlineData(nameof(CacheeOptions.CircuitBreakerBreakDuration))]
    [InlineData(nameof(CacheeOptions.WriteFailureMode))]
    [InlineData(nameof(CacheeOptions.ReplayQueueCapacity))]
    [InlineData(nameof(CacheeOptions.MinReplicasToAcknowledge))]
    [InlineData(nameof(CacheeOptions.LargeValueThreshold))]
    [InlineData(nameof(CacheeOptions.LargeValueConnections))]
    [InlineData(nameof(CacheeOptions.CompressionThreshold))]
    public void InvalidOption_FailsNamingIt(string option)
    {
        var options = new CacheeOptions { Configuration = "localhost" };
        switch (option)
        {
            case nameof(CacheeOptions.Configuration): options.Configuration = " "; break;
            case nameof(CacheeOptions.L1MaxBytes): options.L1MaxBytes = 0; break;
            case nameof(CacheeOptions.L1MaxEntries): options.L1MaxEntries = 0; break;
            case nameof(CacheeOptions.L1MaxEntryBytes): options.L1MaxEntryBytes = -1; break;
            case nameof(CacheeOptions.SlidingRefreshTolerance): options.SlidingRefreshTolerance = TimeSpan.Zero; break;
            case nameof(CacheeOptions.ExpirationScanInterval): options.ExpirationScanInterval = TimeSpan.FromDays(1); break;
            case nameof(CacheeOptions.InvalidationChannel): options.InvalidationChannel = string.Empty; break;
            case nameof(CacheeOptions.L2OperationTimeout): options.L2OperationTimeout = TimeSpan.Zero; break;
            case nameof(CacheeOptions.CircuitBreakerFailureThreshold): options.CircuitBreakerFailureThreshold = 0; break;
            case nameof(CacheeOptions.CircuitBreakerBreakDuration): options.CircuitBreakerBreakDuration = TimeSpan.FromHours(1); break;
            case nameof(CacheeOptions.WriteFailureMode): options.WriteFailureMode = (WriteFailureMode)7; break;
            case nameof(CacheeOptions.ReplayQueueCapacity): options.ReplayQueueCapacity = 0; break;
            case nameof(CacheeOptions.MinReplicasToAcknowledge): options.MinReplicasToAcknowledge = 17; break;
            case nameof(CacheeOptions.LargeValueThreshold): options.LargeValueThreshold = 1023; break;
            case nameof(CacheeOptions.LargeValueConnections): options.LargeValueConnections = 17; break;
            case nameof(CacheeOptions.CompressionThreshold): options.CompressionThreshold = 100; break;
        }

        var error = Assert.Throws<OptionsValidationException>(() => new TieredDistributedCache(Options.Create(options)));
        Assert.Contains($"CacheeOptions.{option}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReplicaAcknowledgement_WithTheApplicationsMultiplexer_FailsSayingWhy()
    {
        var options = new CacheeOptions
        {
            ConnectionMultiplexerFactory = () => throw new InvalidOperationException("not called"),
            MinReplicasToAcknowledge = 1,
        };
        var error = Assert.Throws<OptionsValidationException>(() => new TieredDistributedCache(Options.Create(options)));
        Assert.Contains(nameof(CacheeOptions.ConnectionMultiplexerFactory), error.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(CacheeOptions.MinReplicasToAcknowledge), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TlsCertificates_MissingFile_FailsNamingTheOptionAndThePath()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"cachee-missing-{Guid.NewGuid():N}.crt");
        var options = new CacheeOptions { Configuration = "localhost,ssl=true", TlsCaCertificatePath = missing, TlsClientCertificatePath = missing };
        var error = Assert.Throws<OptionsValidationException>(() => new TieredDistributedCache(Options.Create(options)));
        Assert.Contains($"CacheeOptions.{nameof(CacheeOptions.TlsCaCertificatePath)} ('{missing}') could not be loaded", error.Message, StringComparison.Ordinal);
        Assert.Contains($"CacheeOptions.{nameof(CacheeOptions.TlsClientCertificatePath)} ('{missing}') could not be loaded", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TlsCertificates_WithTlsOff_FailSayingHowToTurnItOn()
    {
        var authority = Path.GetTempFileName();
        try
        {
            using (var key = System.Security.Cryptography.ECDsa.Create())
            {
                var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=test CA", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
                using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
                File.WriteAllText(authority, certificate.ExportCertificatePem());
            }

            var options = new CacheeOptions { Configuration = "localhost", TlsCaCertificatePath = authority };
            var error = Assert.Throws<OptionsValidationException>(() => new TieredDistributedCache(Options.Create(options)));
            Assert.Contains("ssl=true", error.Message, StringComparison.Ordinal);

            options.Configuration = "localhost,ssl=true";
            CacheeOptionsValidator.ThrowIfInvalid(options); // the same file, with TLS on: valid
        }
        finally
        {
            File.Delete(authority);
        }
    }

    [Fact]
    public void TlsCertificates_WithTheApplicationsMultiplexer_FailSayingWhereToPutThem()
    {
        var options = new CacheeOptions
        {
            ConnectionMultiplexerFactory = () => throw new InvalidOperationException("not called"),
            TlsCaCertificatePath = "ca.crt",
        };
        var error = Assert.Throws<OptionsValidationException>(() => new TieredDistributedCache(Options.Create(options)));
        Assert.Contains(nameof(CacheeOptions.ConnectionMultiplexerFactory), error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("no keys", "needs keys")]
    [InlineData("short key", "must be 32 bytes in base64")]
    [InlineData("duplicate id", "listed twice")]
    [InlineData("blank id", "needs an Id")]
    [InlineData("unknown active key", "must be the Id of one of the EncryptionKeys")]
    [InlineData("require without encrypting", "needs EncryptValues")]
    public void EncryptionOptions_AreCheckedAtStartUp(string case_, string expected)
    {
        var key = Convert.ToBase64String(new byte[32]);
        var options = new CacheeOptions { Configuration = "localhost", EncryptValues = true, EncryptionKeys = [new() { Id = "a", Key = key }] };
        switch (case_)
        {
            case "no keys": options.EncryptionKeys = []; break;
            case "short key": options.EncryptionKeys = [new() { Id = "a", Key = Convert.ToBase64String(new byte[16]) }]; break;
            case "duplicate id": options.EncryptionKeys = [new() { Id = "a", Key = key }, new() { Id = "a", Key = key }]; break;
            case "blank id": options.EncryptionKeys = [new() { Id = " ", Key = key }]; break;
            case "unknown active key": options.EncryptionActiveKeyId = "b"; break;
            case "require without encrypting": options.EncryptValues = false; options.RequireEncryptedValues = true; break;
        }

        var error = Assert.Throws<OptionsValidationException>(() => new TieredDistributedCache(Options.Create(options)));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AKeyRingRegisteredInTheContainer_IsTaken_UnlessTheOptionsSetOne()
    {
        var registered = new FixedKeyRing("registered");
        using var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<IEncryptionKeyRing>(registered)
            .AddCacheeDistributedCache(o => { o.Configuration = "localhost"; o.EncryptValues = true; })
            .BuildServiceProvider();

        Assert.Same(registered, services.GetRequiredService<IOptions<CacheeOptions>>().Value.EncryptionKeyRing);

        var own = new FixedKeyRing("own");
        using var explicitRing = new ServiceCollection()
            .AddLogging()
            .AddSingleton<IEncryptionKeyRing>(registered)
            .AddCacheeDistributedCache(o => { o.Configuration = "localhost"; o.EncryptValues = true; o.EncryptionKeyRing = own; })
            .BuildServiceProvider();
        Assert.Same(own, explicitRing.GetRequiredService<IOptions<CacheeOptions>>().Value.EncryptionKeyRing);
    }

    private sealed class FixedKeyRing(string id) : IEncryptionKeyRing
    {
        private readonly byte[] _key = new byte[32];

        public string ActiveKeyId => id;

        public bool TryGetKey(string keyId, out ReadOnlyMemory<byte> key)
        {
            key = _key;
            return keyId == id;
        }
    }

    [Fact]
    public void DefaultOptionsWithConfiguration_AreValid()
    {
        using var cache = new TieredDistributedCache(Options.Create(new CacheeOptions { Configuration = "127.0.0.1:1" }));
        Assert.Equal(32, cache.InstanceId.Length);
    }

    [Fact]
    public async Task HostStart_FailsOnInvalidOptions()
    {
        var builder = Host.CreateApplicationBuilder();
        _ = builder.Services.AddCacheeSessions(o => o.L1MaxEntries = -3);
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("CacheeOptions.L1MaxEntries", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddCacheeSessions_ReplacesEarlierDistributedCache_AndRegistersOneHostedService()
    {
        var services = new ServiceCollection();
        _ = services.AddDistributedMemoryCache();
        _ = services.AddCacheeSessions(o => o.Configuration = "127.0.0.1:1");
        _ = services.AddCacheeSessions(o => o.InstanceName = "twice:"); // a second call adds nothing but options
        await using var provider = services.BuildServiceProvider();

        var cache = Assert.IsType<TieredDistributedCache>(provider.GetRequiredService<IDistributedCache>());
        Assert.Same(cache, provider.GetRequiredService<TieredDistributedCache>());
        Assert.Single(provider.GetServices<IHostedService>(), s => s.GetType().Name == "CacheeHostedService");
        Assert.Single(services, d => d.ServiceType == typeof(IDistributedCache));
        Assert.Equal("twice:", provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<CacheeOptions>>().Value.InstanceName);
    }

    [Fact]
    public async Task AddCacheeDistributedCache_RegistersTheCacheAndItsHostedService_WithoutSessionsOrDataProtection()
    {
        var services = new ServiceCollection();
        _ = services.AddCacheeDistributedCache(o => o.Configuration = "127.0.0.1:1");
        await using var provider = services.BuildServiceProvider();

        Assert.IsType<TieredDistributedCache>(provider.GetRequiredService<IDistributedCache>());
        Assert.Single(provider.GetServices<IHostedService>());
        Assert.DoesNotContain(services, d => d.ServiceType.FullName == "Microsoft.AspNetCore.Session.ISessionStore");
        Assert.DoesNotContain(services, d => d.ServiceType.Namespace?.StartsWith("Microsoft.AspNetCore.DataProtection", StringComparison.Ordinal) == true);
    }

    [Fact]
    public async Task AddCacheeDistributedCache_BindsConfigurationSection()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cachee:Configuration"] = "127.0.0.1:1",
            ["Cachee:L1MaxEntries"] = "4321",
        }).Build();
        var services = new ServiceCollection();
        _ = services.AddCacheeDistributedCache(configuration.GetSection("Cachee"));
        await using var provider = services.BuildServiceProvider();
        Assert.Equal(4321, provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<CacheeOptions>>().Value.L1MaxEntries);
    }

    [Fact]
    public async Task AStartedProvider_CanBeDisposedSynchronously_AndStoppedAfterwards()
    {
        var services = new ServiceCollection();
        _ = services.AddLogging();
        _ = services.AddCacheeSessions(o => o.Configuration = "127.0.0.1:1"); // nothing listens there: the subscription retries
        var provider = services.BuildServiceProvider();
        var hosted = provider.GetServices<IHostedService>().ToList();
        foreach (var service in hosted)
        {
            await service.StartAsync(CancellationToken.None);
        }

        var cache = provider.GetRequiredService<TieredDistributedCache>();
        provider.Dispose(); // threw "only implements IAsyncDisposable" when the coordinator was registered itself
        await Assert.ThrowsAsync<ObjectDisposedException>(() => cache.SetAsync("k", [1], new DistributedCacheEntryOptions()));
        foreach (var service in hosted)
        {
            await service.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task AddCacheeSessions_BindsConfigurationSection()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cachee:Configuration"] = "127.0.0.1:1",
            ["Cachee:InstanceName"] = "shop:",
            ["Cachee:L1MaxEntries"] = "1234",
            ["Cachee:SlidingRefreshTolerance"] = "00:00:05",
        }).Build();
        var services = new ServiceCollection();
        _ = services.AddCacheeSessions(configuration.GetSection("Cachee"));
        await using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<CacheeOptions>>().Value;
        Assert.Equal("shop:", options.InstanceName);
        Assert.Equal(1234, options.L1MaxEntries);
        Assert.Equal(TimeSpan.FromSeconds(5), options.SlidingRefreshTolerance);
    }

    [Fact]
    public void DefaultInvalidationChannel_FollowsInstanceName()
    {
        Assert.Equal("shop:__cachee:invalidations", TieredDistributedCache.ChannelName(new CacheeOptions { InstanceName = "shop:" }));
        Assert.Equal("mine", TieredDistributedCache.ChannelName(new CacheeOptions { InstanceName = "shop:", InvalidationChannel = "mine" }));
    }
}
