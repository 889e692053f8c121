using Cachee.Sessions.L2;


namespace Cachee.Sessions.L1;

/// <summary>
/// Makes and installs the L1 copies of values this instance read or wrote. A copy is valid until the earliest of its absolute
/// expiration, Redis' expiry and the end of this instance's holder registration (all known at the moment taken before Redis
/// was asked), less the L1 clock's margin; a
/// sliding copy carries the lead at which a hit asks for its renewal in Redis. Every path that puts a value in L1 (a read, a
/// write, a write queued for replay, a replay) goes through here.
/// </summary>
/// <param name="l1">The L1 tier.</param>
/// <param name="time">The clock.</param>
/// <param name="slidingTolerance">The configured sliding refresh tolerance (null: the default).</param>
/// <param name="canHold">False for a key whose changes may go unheard for now (see <c>IKeyTopology.CanHold</c>).</param>
internal sealed class L1Copies(L1Store l1, TimeProvider time, TimeSpan? slidingTolerance, Func<string, bool> canHold)
{
    /// <summary>Now on both clocks, read together: UTC (for Redis) and L1's.</summary>
    public Moment Now() => new(UtcNow(), l1.Clock.Now());

    /// <summary>Now in UTC ticks, as Redis entries store times.</summary>
    public long UtcNow() => time.GetUtcNow().UtcTicks;

    /// <summary>Installs what a read from Redis found, unless the read raced with a change of the key or L1 was not trusted.</summary>
    public void InstallRead(in L1Ticket ticket, L2Entry found, Moment now)
    {
        if (Make(ticket, found.Data, found.Version, found.Expiration, found.Ttl, now) is { } entry)
        {
            _ = l1.TryInstallRead(ticket, entry);
        }
    }

    /// <summary>
    /// Completes a local write in L1: the new copy when it may be kept, otherwise no copy at all (<paramref name="value"/> null:
    /// a remove, or a write that did not happen).
    /// </summary>
    /// <param name="ticket">Taken before the write.</param>
    /// <param name="value">The value written, or null.</param>
    /// <param name="version">The version Redis gave it.</param>
    /// <param name="expiration">Its expiration settings.</param>
    /// <param name="ttlMilliseconds">The time to live it was written with (-1: none, as <see cref="EntryExpiration.TtlMilliseconds"/> gives).</param>
    /// <param name="now">The moment taken before the write.</param>
    public void CompleteWrite(in L1Ticket ticket, byte[]? value, long version, EntryExpiration expiration, long ttlMilliseconds, Moment now) =>
        _ = l1.CompleteWrite(ticket, value is null ? null : Make(ticket, value, version, expiration, RedisTtl.FromPttl(ttlMilliseconds), now));

    /// <summary>Completes a local write that left no copy (a remove, or a write that failed).</summary>
    public void CompleteWithoutCopy(in L1Ticket ticket) => _ = l1.CompleteWrite(ticket, null);

    // Null when the copy may not be kept: L1 was not trusted when the ticket was taken, the value is too large, Redis' expiry
    // is unknown, changes of the key may go unheard for now, or the copy would already have ended.
    private L1Entry? Make(in L1Ticket ticket, byte[] value, long version, EntryExpiration expiration, RedisTtl ttl, Moment now)
    {
        if (!ticket.CanInstall || value.Length > l1.MaxEntryBytes || !ttl.IsKnown || !canHold(ticket.Key))
        {
            return null;
        }

        var absolute = expiration.HasAbsolute ? expiration.AbsoluteTicks : long.MaxValue;
        var redisExpiry = ttl.IsNone ? long.MaxValue : now.Utc + (ttl.Milliseconds * TimeSpan.TicksPerMillisecond);
        var registeredUntil = now.Utc + HolderRegistry.Lifetime.Ticks; // the holder registration the read or write made
        var validUntil = l1.Clock.ValidUntil(Math.Min(Math.Min(absolute, redisExpiry), registeredUntil), now.Utc, now.L1);
        if (validUntil <= now.L1)
        {
            return null;
        }

        // A sliding copy asks for its renewal a tolerance after Redis' expiry was last set (its end less the shorter of the
        // window and the registration, less the tolerance), as long as a renewal can still move Redis' expiry: not once it
        // sits at the absolute expiration. The renewal also renews the registration.
        var sliding = expiration.HasSliding ? expiration.SlidingTicks : 0;
        var lead = sliding > 0 && redisExpiry < absolute
            ? Math.Max(0, Math.Min(sliding, HolderRegistry.Lifetime.Ticks) - EntryExpiration.ToleranceTicks(sliding, slidingTolerance)) + l1.Clock.Margin
            : 0;
        return new L1Entry(ticket.Key, value, version, ticket.Epoch, validUntil, lead);
    }
}

/// <summary>A moment on both clocks, read together: UTC ticks (for Redis) and the <see cref="L1Clock"/>'s.</summary>
internal readonly record struct Moment(long Utc, long L1);
