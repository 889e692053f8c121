using Cachee.Sessions;
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
    /// Registers <see cref="TieredDistributedCache"/> as the application's <see cref="IDistributedCache"/> (replacing an earlier
    /// registration, as <c>AddStackExchangeRedisCache</c> does) and its <see cref="ClusterCoordinator"/> as a hosted service.
    /// Options are validated when the host starts.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options, for example <c>o =&gt; o.Configuration = "redis:6379"</c>.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddCacheeSessions(this IServiceCollection services, Action<CacheeOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        _ = services.AddOptions<CacheeOptions>().Configure(configure);
        return AddCore(services);
    }

    /// <summary>As <see cref="AddCacheeSessions(IServiceCollection, Action{CacheeOptions})"/>, binding the options from a configuration section.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">A section whose keys are <see cref="CacheeOptions"/> property names, for example <c>Configuration</c> and <c>InstanceName</c>.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddCacheeSessions(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        _ = services.AddOptions<CacheeOptions>().Bind(configuration);
        return AddCore(services);
    }

    private static IServiceCollection AddCore(IServiceCollection services)
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
        return services;
    }
}
