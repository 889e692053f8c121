using System.Text;
using Cachee.Sessions.Invalidation;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// The invalidation channels' threat model (docs/security.md): a client that can publish on Cachee's channels
/// floods every kind of forged message at two instances while they write and read. No read may return anything but the
/// value last written, and memory, log lines and waits must stay bounded.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class ForgedMessagesTests(RedisServer redis)
{
    private const int Keys = 40;
    private const int Rounds = 400;
    private const int ForgedMessages = 60_000;

    [Fact]
    public async Task AFloodOfForgedMessages_NeverServesWrongData_AndStaysBounded()
    {
        var logs = new CapturingLoggerProvider();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        await using var instances = new Instances(redis.Endpoint, factory);
        var writer = await instances.StartAsync();
        var reader = await instances.StartAsync();
        var channelBase = instances.Prefix + "__cachee:invalidations";
        RedisChannel[] targets =
        [
            RedisChannel.Literal(InvalidationMessage.InboxChannel(channelBase, writer.InstanceId)),
            RedisChannel.Literal(InvalidationMessage.InboxChannel(channelBase, reader.InstanceId)),
            RedisChannel.Literal("__redis__:invalidate"),
        ];
        for (var k = 0; k < Keys; k++)
        {
            await writer.SetStringAsync(Key(k), "v-1");
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);

        // The attacker: every message kind, forged, as fast as Redis takes them.
        using var attacker = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        var flood = Task.Run(async () =>
        {
            var random = new Random(19);
            var publisher = attacker.GetSubscriber();
            var junk = 0;
            for (var i = 0; i < ForgedMessages; i++)
            {
                var key = random.Next(2) == 0 ? Key(random.Next(Keys)) : $"forged-{random.Next()}";
                var (channel, message) = (i % 6) switch
                {
                    0 => (targets[random.Next(2)], InvalidationMessage.FormatInvalidation("forger", random.NextInt64(1, long.MaxValue), random.NextInt64(1, long.MaxValue), key)),
                    1 => (targets[random.Next(2)], InvalidationMessage.FormatInvalidation(writer.InstanceId, 1, 0, key)),
                    2 => (targets[random.Next(2)], InvalidationMessage.FormatAck(random.NextInt64(1, long.MaxValue), $"forged-holder-{random.Next(100)}")),
                    3 => (targets[random.Next(2)], InvalidationMessage.FormatProbe(reader.InstanceId, Guid.NewGuid().ToString("N"))),
                    4 => (targets[2], instances.Prefix + key),
                    _ => (targets[random.Next(2)], $"junk {i} {new string('x', random.Next(200))}"),
                };
                junk += (i % 6) == 5 ? 1 : 0;
                _ = publisher.Publish(channel, message, CommandFlags.FireAndForget);
                if (i % 1000 == 999)
                {
                    _ = await publisher.PublishAsync(RedisChannel.Literal("flood-pacer"), "x"); // keeps the client's queue bounded
                }
            }

            return junk;
        });

        // Meanwhile, for as long as the flood lasts: write on one instance, read on both; every read must see the value just
        // written.
        var wrong = new List<string>();
        var rounds = 0;
        for (var round = 0; round < Rounds || !flood.IsCompleted; round++, rounds++)
        {
            var key = Key(round % Keys);
            var value = $"v{round}";
            await writer.SetStringAsync(key, value);
            foreach (var (name, cache) in new[] { ("reader", reader), ("writer", writer) })
            {
                var seen = await cache.GetStringAsync(key);
                if (seen != value)
                {
                    wrong.Add($"{name} read {seen ?? "(none)"} for {key}, written {value}");
                }
            }
        }

        var junkSent = await flood;
        Assert.Empty(wrong);
        Assert.True(rounds >= Rounds, $"{rounds} rounds");

        // Everything forged was heard (the malformed ones are counted), and nothing grew with it.
        await Eventually.TrueAsync(
            () => reader.GetStatistics().InvalidationsMalformed + writer.GetStatistics().InvalidationsMalformed >= junkSent,
            "the junk is counted", TimeSpan.FromSeconds(30));
        var forgedInvalidations = reader.GetStatistics().InvalidationsReceived + writer.GetStatistics().InvalidationsReceived;
        Assert.True(forgedInvalidations >= ForgedMessages / 6, $"only {forgedInvalidations} invalidations were heard");
        Assert.True(reader.L1.Count <= Keys && writer.L1.Count <= Keys, $"L1 holds {reader.L1.Count} and {writer.L1.Count} copies for {Keys} keys");
        Assert.Equal(0, writer.Coordinator.Acks.Waiting);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var growth = GC.GetTotalMemory(forceFullCollection: true) - heapBefore;
        Assert.True(growth < 32L * 1024 * 1024, $"the heap grew by {growth / 1024} KiB over {ForgedMessages} forged messages");
        var malformedLines = logs.Lines.Count(line => line.Contains("[MalformedMessage]", StringComparison.Ordinal));
        Assert.InRange(malformedLines, 1, 2); // once a minute per instance at most

        // And after the flood, copies are kept and served again. Forged invalidations looked like changes that ended unused
        // copies, so the reader may have stopped holding the key: reads that find it unchanged make it hold again.
        await writer.SetStringAsync(Key(0), "after");
        var served = false;
        for (var read = 0; read < 10 && !served; read++)
        {
            var hits = reader.GetStatistics().L1Hits;
            Assert.Equal("after", await reader.GetStringAsync(Key(0)));
            served = reader.GetStatistics().L1Hits == hits + 1;
        }

        Assert.True(served, "the reader serves the key from L1 again");
    }

    private static string Key(int k) => "session-" + k.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
