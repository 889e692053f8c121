namespace Cachee.Sessions.Diagnostics;

/// <summary>A counter of one cache instance, for events that cost a Redis call or are rarer (one interlocked add).</summary>
internal sealed class Counter
{
    private long _value;

    public long Value => Interlocked.Read(ref _value);

    public void Increment() => Interlocked.Increment(ref _value);

    public void Add(long value) => Interlocked.Add(ref _value, value);
}
