using Cachee.Sessions.Redis;
using Cachee.Sessions.Redis.Cluster;
using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>The store conformance suite against a real <c>redis-server</c> (the same tests run against the in-memory model).</summary>
public sealed class RedisConformanceTests(RedisServer redis) : RedisConformance(redis.Endpoint), IClassFixture<RedisServer>;

/// <summary>The store conformance suite against a real three-master Redis Cluster.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class RedisClusterConformanceTests(RedisCluster cluster) : RedisConformance(cluster.Endpoints);

/// <summary>Connects store and bus of each instance as the cache does, on a connection of its own.</summary>
public abstract class RedisConformance(string endpoints) : L2StoreConformance
{
    private readonly string _prefix = $"t{Guid.NewGuid():N}:";
    private readonly List<IDisposable> _owned = [];
    private ConnectionMultiplexer _admin = null!;

    private protected override long NowTicks => DateTime.UtcNow.Ticks;

    public override async Task InitializeAsync() => _admin = await ConnectionMultiplexer.ConnectAsync(endpoints);

    public override async Task DisposeAsync()
    {
        foreach (var item in Enumerable.Reverse(_owned))
        {
            item.Dispose();
        }

        await _admin.DisposeAsync();
    }

    private protected override async Task<Node> ConnectAsync(string origin)
    {
        var id = $"{origin}-{Guid.NewGuid():N}";
        var options = new CacheeOptions { Configuration = endpoints, InstanceName = _prefix };
        var connection = new RedisConnection(options, RedisInvalidationBus.ClientNameFor(id));
        _owned.Add(connection);
        var topology = new ClusterTopology(_prefix);
        var inboxes = new ShardInboxes(topology, _prefix + "__cachee:invalidations", id, new MessagePump("test " + id));
        var bus = new RedisInvalidationBus(connection, topology, inboxes, id, _prefix, TimeSpan.FromSeconds(5));
        _owned.Add(bus);
        var store = new RedisL2Store(
            connection, _prefix, topology, inboxes, id, TimeSpan.FromSeconds(5), largeValueThreshold: options.LargeValueThreshold);
        var node = new Node(id, store);
        await bus.StartAsync(node, CancellationToken.None);
        return node;
    }

    private protected override Task SetFromOtherClientAsync(string key, byte[] value) =>
        _admin.GetDatabase().HashSetAsync(_prefix + key, "data", value);

    private protected override async Task<int> HolderCountAsync(string key) =>
        (int)await _admin.GetDatabase().SetLengthAsync(HolderRegistryKey.For(_prefix, key));

    // Redis expires on its own clock: poll it with a deadline.
    private protected override Task AfterAsync(TimeSpan span, Func<Task<bool>> condition, string what) => Eventually.TrueAsync(condition, what);
}
