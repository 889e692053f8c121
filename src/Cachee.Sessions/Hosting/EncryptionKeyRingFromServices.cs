using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.Hosting;

/// <summary>
/// Takes an <see cref="IEncryptionKeyRing"/> registered in the container (for example one backed by a vault client the
/// application already registers) as <see cref="CacheeOptions.EncryptionKeyRing"/>, unless the options set one themselves.
/// </summary>
internal sealed class EncryptionKeyRingFromServices(IServiceProvider services) : IPostConfigureOptions<CacheeOptions>
{
    public void PostConfigure(string? name, CacheeOptions options) =>
        options.EncryptionKeyRing ??= services.GetService<IEncryptionKeyRing>();
}
