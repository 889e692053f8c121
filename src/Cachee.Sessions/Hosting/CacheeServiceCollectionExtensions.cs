using Cachee.Sessions;
using Cachee.Sessions.DataProtection;
using Cachee.Sessions.SessionState;
using Cachee.Sessions.Hosting;
using Cachee.Sessions.Validation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.Session;
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
    /// registration, as <c>AddStackExchangeRedisCache</c> does) and ties it to the host's lifetime: its invalidation
    /// subscription is made when the host starts, and when the host stops, queued writes and pending renewals are sent to
    /// Redis. Nothing else: no sessions, no Data Protection. For applications that use <see cref="IDistributedCache"/>
    /// directly. Options are validated when the host starts.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options, for example <c>o =&gt; o.Configuration = "redis:6379"</c>.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddCacheeDistributedCache(this IServiceCollection services, Action<CacheeOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        _ = services.AddOptions<CacheeOptions>().Configure(configure);
        return AddCache(services);
    }

    /// <summary>
    /// As <see cref="AddCacheeDistributedCache(IServiceCollection, Action{CacheeOptions})"/>, binding the options from a
    /// configuration section.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">A section whose keys are <see cref="CacheeOptions"/> property names, for example <c>Configuration</c> and <c>InstanceName</c>.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddCacheeDistributedCache(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        _ = services.AddOptions<CacheeOptions>().Bind(configuration);
        return AddCache(services);
    }

    /// <summary>
    /// Everything <see cref="AddCacheeDistributedCache(IServiceCollection, Action{CacheeOptions})"/> registers, plus the
    /// ASP.NET Core session services (<c>AddSession</c>) over Cachee's own session store, which keeps each session key by key
    /// (see <see cref="CacheeOptions.SessionFormat"/>; <c>HttpContext.Session</c> is an <see cref="ICacheeSession"/>) and, unless the application configures its own, a Data Protection
    /// key ring and application name shared by all instances (see <see cref="CacheeOptions.ShareDataProtectionKeys"/>).
    /// All that is left is <c>app.UseSession()</c>. Options are validated when the host starts.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options, for example <c>o =&gt; o.Configuration = "redis:6379"</c>.</param>
    /// <param name="configureSession">Sets the <see cref="SessionOptions"/> (idle timeout, cookie); the ASP.NET Core defaults when null.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddCacheeSessions(
        this IServiceCollection services, Action<CacheeOptions> configure, Action<SessionOptions>? configureSession = null)
    {
        _ = services.AddCacheeDistributedCache(configure);
        return AddSessions(services, configureSession);
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
        _ = services.AddCacheeDistributedCache(configuration);
        return AddSessions(services, configureSession);
    }

    private static IServiceCollection AddCache(IServiceCollection services)
    {
        _ = services.AddOptions<CacheeOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CacheeOptions>, CacheeOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<CacheeOptions>, EncryptionKeyRingFromServices>());
        services.TryAddSingleton(sp => new TieredDistributedCache(
            sp.GetRequiredService<IOptions<CacheeOptions>>(),
            sp.GetService<ILoggerFactory>(),
            sp.GetService<TimeProvider>(),
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));

        // The container disposes what a factory returns: the IDistributedCache registration hands out the same instance, which
        // ignores the second disposal.
        _ = services.Replace(ServiceDescriptor.Singleton<IDistributedCache>(sp => sp.GetRequiredService<TieredDistributedCache>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, CacheeHostedService>());
        return services;
    }

    private static IServiceCollection AddSessions(IServiceCollection services, Action<SessionOptions>? configureSession)
    {
        _ = configureSession is null ? services.AddSession() : services.AddSession(configureSession);
        _ = services.Replace(ServiceDescriptor.Singleton<ISessionStore, CacheeSessionStore>());
        _ = services.AddDataProtection();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<KeyManagementOptions>, SharedKeyRingSetup>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<DataProtectionOptions>, SharedApplicationNameSetup>());
        return services;
    }
}
