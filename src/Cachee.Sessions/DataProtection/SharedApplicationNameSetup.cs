using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.DataProtection;

/// <summary>
/// Gives every instance the same Data Protection application name unless the application set one. Without it the name
/// defaults to the content root path, which differs between deployments and makes instances reject each other's cookies.
/// </summary>
internal sealed class SharedApplicationNameSetup(IOptions<CacheeOptions> options, IServiceProvider services) : IPostConfigureOptions<DataProtectionOptions>
{
    public void PostConfigure(string? name, DataProtectionOptions dataProtection)
    {
        var settings = options.Value;
        if (!settings.ShareDataProtectionKeys)
        {
            return;
        }

        // Data Protection's own setup fills in the host's default; anything else was set by the application.
        if (dataProtection.ApplicationDiscriminator is null
            || dataProtection.ApplicationDiscriminator == services.GetApplicationUniqueIdentifier())
        {
            dataProtection.ApplicationDiscriminator = settings.DataProtectionApplicationName ?? "Cachee.Sessions" + settings.InstanceName;
        }
    }
}
