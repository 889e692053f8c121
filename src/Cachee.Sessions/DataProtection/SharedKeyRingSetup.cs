using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.StackExchangeRedis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cachee.Sessions.DataProtection;

/// <summary>
/// Keeps the Data Protection key ring in Cachee's Redis unless the application chose its own key storage.
/// Runs after every <c>Configure</c>, so a <c>PersistKeysTo…</c> call made before or after <c>AddCacheeSessions</c> wins.
/// </summary>
internal sealed class SharedKeyRingSetup(IOptions<CacheeOptions> options, TieredDistributedCache cache) : IPostConfigureOptions<KeyManagementOptions>
{
    public void PostConfigure(string? name, KeyManagementOptions keyManagement)
    {
        var settings = options.Value;
        if (!settings.ShareDataProtectionKeys || keyManagement.XmlRepository is not null)
        {
            return;
        }

        RedisKey key = settings.DataProtectionKeyRingKey ?? settings.InstanceName + "cachee:data-protection-keys";
        keyManagement.XmlRepository = new RedisXmlRepository(cache.GetDatabase, key);
    }
}
