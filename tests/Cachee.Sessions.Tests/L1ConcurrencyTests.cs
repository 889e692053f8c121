using Cachee.Sessions.L1;
using Microsoft.Extensions.Time.Testing;

namespace Cachee.Sessions.Tests;

/// <summary>The lock-free read side of L1 against writers, growth, eviction and removal on other threads.</summary>
public sealed class L1ConcurrencyTests
{
    [Fact]
    public async Task ReadersNeverSeeAnotherKeysValue_WhileWritersInstallInvalidateEvictAndGrow()
    {
        const int Keys = 4000;
        var store = new L1Store(long.MaxValue, 1500, 1024, static () => { }, new L1Clock(new FakeTimeProvider()));
        _ = store.Resume();
        var keys = Enumerable.Range(0, Keys).Select(i => $"key-{i}").ToArray();
        var hits = 0L;
        for (var i = 0; i < 1000; i++)
        {
            Put(store, keys[i], i);
        }

        // Two writers: every value carries the number of its key; a third of the operations drop a key again.
        var writers = Enumerable.Range(0, 2).Select(w => Task.Run(() =>
        {
            var random = new Random(w);
            for (var n = 0; n < 200_000; n++)
            {
                var i = random.Next(Keys);
                if (n % 3 == 0)
                {
                    _ = store.Invalidate(keys[i], long.MaxValue);
                    continue;
                }

                Put(store, keys[i], i);
            }
        })).ToArray();
        var writing = Task.WhenAll(writers);

        var readers = Enumerable.Range(0, 2).Select(r => Task.Run(() =>
        {
            var random = new Random(100 + r);
            while (!writing.IsCompleted)
            {
                var i = random.Next(Keys);
                if (store.TryServe(keys[i], out var value))
                {
                    Assert.Equal(i, BitConverter.ToInt32(value));
                    _ = Interlocked.Increment(ref hits);
                }
            }
        }));

        await Task.WhenAll(readers.Append(writing));
        Assert.True(Interlocked.Read(ref hits) > 0, "the readers hit at all");
        Assert.True(store.Count <= 1500);
    }

    private static void Put(L1Store store, string key, int number)
    {
        var ticket = store.BeginRead(key);
        _ = store.TryInstallRead(ticket, new L1Entry(key, BitConverter.GetBytes(number), 1, ticket.Epoch, long.MaxValue));
    }

    [Fact]
    public async Task ReadersOfOneHotKey_AlwaysHitWhileOtherKeysChurn()
    {
        var store = new L1Store(long.MaxValue, 100_000, 1024, static () => { }, new L1Clock(new FakeTimeProvider()));
        _ = store.Resume();
        var ticket = store.BeginRead("hot");
        Assert.True(store.TryInstallRead(ticket, new L1Entry("hot", [42], 1, ticket.Epoch, long.MaxValue)));

        // Its stripe grows and other keys come and go around it; a reader of the hot key must never miss.
        var writer = Task.Run(() =>
        {
            for (var n = 0; n < 50_000; n++)
            {
                var key = $"other-{n}";
                var other = store.BeginRead(key);
                _ = store.TryInstallRead(other, new L1Entry(key, [1], 1, other.Epoch, long.MaxValue));
                if (n % 2 == 0)
                {
                    _ = store.Invalidate($"other-{n / 2}", long.MaxValue);
                }
            }
        });

        var misses = 0;
        while (!writer.IsCompleted)
        {
            if (!store.TryServe("hot", out var value) || value[0] != 42)
            {
                misses++;
            }
        }

        await writer;
        Assert.Equal(0, misses);
    }
}
