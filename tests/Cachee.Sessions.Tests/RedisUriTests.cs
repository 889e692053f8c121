using Cachee.Sessions.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cachee.Sessions.Tests;

/// <summary><c>redis://</c> and <c>rediss://</c> URIs in <see cref="CacheeOptions.Configuration"/>.</summary>
public sealed class RedisUriTests
{
    [Theory]
    [InlineData("rediss://cachee:p%40ss@redis.internal:6380/2", "redis.internal:6380,ssl=true,user=cachee,password=p@ss,defaultDatabase=2")]
    [InlineData("redis://localhost", "localhost:6379")]
    [InlineData("rediss://h:1/0?checkCertificateRevocation=false&connectTimeout=2000", "h:1,ssl=true,defaultDatabase=0,checkCertificateRevocation=false,connectTimeout=2000")]
    [InlineData("rediss://secret@host", "host:6379,ssl=true,password=secret")]
    [InlineData("localhost:6379,ssl=true", "localhost:6379,ssl=true")]
    public void Uris_BecomeStackExchangeRedisConfigurationStrings(string configuration, string expected)
    {
        var translated = RedisUri.ToConfigurationString(configuration);

        Assert.Equal(expected, translated);
        _ = ConfigurationOptions.Parse(translated);
    }

    [Fact]
    public void TlsUri_TurnsTlsOn_ForStackExchangeRedis()
    {
        var parsed = ConfigurationOptions.Parse(RedisUri.ToConfigurationString("rediss://u:pw@h:6380"));

        Assert.True(parsed.Ssl);
        Assert.Equal("u", parsed.User);
        Assert.Equal("pw", parsed.Password);
    }

    [Fact]
    public void AMalformedUri_FailsAtStartUp_WithoutItsPassword()
    {
        var options = new CacheeOptions { Configuration = "rediss://user:hunter2@host:6380/notanumber" };

        var error = Assert.Throws<OptionsValidationException>(() => new TieredDistributedCache(Options.Create(options)));

        Assert.Contains("CacheeOptions.Configuration", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
    }
}
