using System.Globalization;

namespace Cachee.Sessions.Redis;

/// <summary>
/// Reads <c>redis://</c> and <c>rediss://</c> (TLS) URIs in <see cref="CacheeOptions.Configuration"/>, which
/// StackExchange.Redis does not: <c>rediss://user:password@host:6380/2</c> becomes
/// <c>host:6380,ssl=true,user=user,password=password,defaultDatabase=2</c>; query parameters are StackExchange.Redis
/// options (<c>?checkCertificateRevocation=false&amp;connectTimeout=2000</c>). Anything else is passed through unchanged.
/// </summary>
internal static class RedisUri
{
    /// <summary>The StackExchange.Redis configuration string for <paramref name="configuration"/>.</summary>
    public static string ToConfigurationString(string configuration)
    {
        var trimmed = configuration.Trim();
        var tls = trimmed.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase);
        if (!tls && !trimmed.StartsWith("redis://", StringComparison.OrdinalIgnoreCase))
        {
            return configuration;
        }

        if (!Uri.TryCreate(trimmed, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new ArgumentException($"'{Redacted(trimmed)}' is not a valid redis:// or rediss:// URI.", nameof(configuration));
        }

        var port = uri.IsDefaultPort || uri.Port < 0 ? 6379 : uri.Port;
        var parts = new List<string> { $"{uri.Host}:{port.ToString(CultureInfo.InvariantCulture)}" };
        if (tls)
        {
            parts.Add("ssl=true");
        }

        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            var user = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            var password = colon < 0 ? null : Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            if (password is null)
            {
                // redis://secret@host: a password alone, as Redis' own clients read it.
                password = user;
                user = string.Empty;
            }

            if (user.Length > 0)
            {
                parts.Add("user=" + user);
            }

            parts.Add("password=" + password);
        }

        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0)
        {
            if (!int.TryParse(path, NumberStyles.None, CultureInfo.InvariantCulture, out var database))
            {
                throw new ArgumentException($"'{Redacted(trimmed)}': the path must be a database number.", nameof(configuration));
            }

            parts.Add("defaultDatabase=" + database.ToString(CultureInfo.InvariantCulture));
        }

        foreach (var parameter in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            parts.Add(Uri.UnescapeDataString(parameter));
        }

        return string.Join(',', parts);
    }

    // The URI without its credentials, for error messages.
    private static string Redacted(string uri)
    {
        var at = uri.LastIndexOf('@');
        var scheme = uri.IndexOf("://", StringComparison.Ordinal);
        return at > scheme && scheme >= 0 ? uri[..(scheme + 3)] + "***@" + uri[(at + 1)..] : uri;
    }
}
