using Cachee.Sessions;
using Cachee.Sessions.Sessions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Cachee.Sessions in a service collection.</summary>
public static class CacheeServiceCollectionExtensions
{
    /// <summary>
    /// Makes <see cref="TieredDistributedCache"/> the application's <see cref="IDistributedCache"/> (replacing an earlier
    /// registration, as <c>AddStackExchangeRedisCache</c> does), registers its <see cref="ClusterCoordinator"/> as a hosted
    /// service, the ASP.NET Core session services (<c>AddSession</c>), and, unless the application configures its own,
    /// a Data Protection key ring and application name shared by all instances (see <see cref="CacheeOptions.ShareDataProtectionKeys"/>).
    /// All that is left is <c>app.UseSession()</c>. Options are validated when the host starts.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options, for example <c>o =&gt; o.Configuration = "redis:6379"</c>.</param>
    /// <param name="configureSession">Sets the <see cref="SessionOptions"/> (idle timeout, cookie); the ASP.NET Core defaults when null.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddCacheeSessions(
        this IServiceCollection services, Action<CacheeOptions> configure, Action<SessionOptions>? configureSession = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        _ = services.AddOptions<CacheeOptions>().Configure(configure);
        return AddCore(services, configureSession);
    }

    /// <summary>
    /// As <see cref="AddCacheeSessions(IServiceCollection, Action{CacheeOptions}, Action{SessionOptions})"/>, binding the
    /// options from a configuration section.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">A section whose keys are <see cref="CacheeOptions"/> property names, for example <c>Configuration</c> and <c>InstanceName</c>.</param>
    /// <param name="configureSession">Sets the <see cref="SessionOptions"/>; the ASP.NET Core defaults when null.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddCacheeSessions(
        this IServiceCollection services, IConfiguration configuration, Action<SessionOptions>? configureSession = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        _ = services.AddOptions<CacheeOptions>().Bind(configuration);
        return AddCore(services, configureSession);
    }

    private static IServiceCollection AddCore(IServiceCollection services, Action<SessionOptions>? configureSession)
    {
        _ = services.AddOptions<CacheeOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CacheeOptions>, CacheeOptionsValidator>());
        services.TryAddSingleton(sp => new TieredDistributedCache(
            sp.GetRequiredService<IOptions<CacheeOptions>>(),
            sp.GetService<ILoggerFactory>(),
            sp.GetService<TimeProvider>(),
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        _ = services.Replace(ServiceDescriptor.Singleton<IDistributedCache>(sp => sp.GetRequiredService<TieredDistributedCache>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ClusterCoordinator>(
            sp => sp.GetRequiredService<TieredDistributedCache>().Coordinator));

        _ = configureSession is null ? services.AddSession() : services.AddSession(configureSession);
        _ = services.AddDataProtection();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<KeyManagementOptions>, SharedKeyRingSetup>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<DataProtectionOptions>, SharedApplicationNameSetup>());
        return services;
    }
}
