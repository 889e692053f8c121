namespace Cachee.Sessions.L2;

/// <summary>What Redis said of an entry's time to live: so many milliseconds, none (the entry does not expire), or not known.</summary>
internal readonly record struct RedisTtl
{
    private const long NoneCode = -1;
    private const long UnknownCode = -2;
    private readonly long _milliseconds;

    private RedisTtl(long milliseconds) => _milliseconds = milliseconds;

    /// <summary>The entry does not expire.</summary>
    public static RedisTtl None { get; } = new(NoneCode);

    /// <summary>Not known (for example, a write came between the read and the look at its expiry): the value must not be kept.</summary>
    public static RedisTtl Unknown { get; } = new(UnknownCode);

    /// <summary>True unless <see cref="Unknown"/>.</summary>
    public bool IsKnown => _milliseconds != UnknownCode;

    /// <summary>True for <see cref="None"/>.</summary>
    public bool IsNone => _milliseconds == NoneCode;

    /// <summary>The milliseconds left; only for a known time to live that is not <see cref="None"/>.</summary>
    public long Milliseconds => _milliseconds >= 0 ? _milliseconds : throw new InvalidOperationException($"No time to live in milliseconds: {this}.");

    /// <summary>From Redis' <c>PTTL</c> reply (or a script's): -1 none, -2 or any other negative value unknown.</summary>
    public static RedisTtl FromPttl(long pttl) => pttl >= 0 ? new(pttl) : pttl == NoneCode ? None : Unknown;

    /// <inheritdoc/>
    public override string ToString() => IsNone ? "none" : !IsKnown ? "unknown" : $"{_milliseconds} ms";
}
