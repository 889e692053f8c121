namespace Cachee.Sessions.Redis.Scripts;

/// <summary>
/// Lua functions the scripts share. The hash layout is RedisCache's (<c>absexp</c>, <c>sldexp</c>, <c>data</c>) plus a
/// <c>ver</c> field that Redis increments on every Cachee write (versions never depend on instance clocks) and an
/// <c>enc</c> field naming the payload's encoding. Beside each entry, a set (its holder registry) names the instances that
/// read it since its last change. Ticks are compared as Lua doubles: the precision lost is far below Redis' 1 ms TTL unit.
/// </summary>
internal static class LuaParts
{
    /// <summary>
    /// <c>renew(key, absexp, sldexp, now, tolerance)</c> renews a sliding entry as RedisCache does (window capped by the
    /// absolute expiration), unless its expiry already lies within half a tolerance of the renewed one (another instance
    /// renewed it lately): a <c>PEXPIRE</c> is a change, which tracking reports to every instance holding a copy, so renewals
    /// by many holders would keep dropping each other's copies. tolerance: the configured sliding tolerance in ms, or -1 for
    /// the default (2% of the window, at most 30 s). Returns 'gone' when the entry passed its absolute expiration (deleted),
    /// 'final' when the renewed expiry is the absolute expiration (no later renewal can move it), 'renewed' otherwise,
    /// 'none' without a sliding window.
    /// </summary>
    public const string Renew = """
        local function renew(key, absexp, sldexp, now, tolerance)
          local sld = tonumber(sldexp)
          if not sld or sld <= 0 then return 'none' end
          local ttl = sld
          local result = 'renewed'
          local abs = tonumber(absexp)
          if abs and abs > 0 and abs - now <= ttl then
            ttl = abs - now
            result = 'final'
          end
          ttl = math.floor(ttl / 10000)
          if ttl <= 0 then
            redis.call('DEL', key)
            return 'gone'
          end
          local tol = tonumber(tolerance)
          if tol < 0 then tol = math.min(sld / 500000, 30000) else tol = math.min(tol, sld / 20000) end
          local left = redis.call('PTTL', key)
          if left > ttl or left < ttl - tol / 2 then redis.call('PEXPIRE', key, ttl) end
          return result
        end

        """;

    /// <summary>
    /// <c>past(deadline, upload)</c>: whether a write reached Redis after its deadline (Unix ms by Redis' clock; '' for none).
    /// The writer has stopped waiting and reported a failure, so the write must not land late; its upload, if any, is deleted.
    /// </summary>
    public const string Deadline = """
        local function past(deadline, upload)
          if deadline == '' then return false end
          local t = redis.call('TIME')
          if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) <= tonumber(deadline) then return false end
          if upload then redis.call('DEL', upload) end
          return true
        end

        """;

    /// <summary>
    /// <c>listening(chan)</c>: on a cluster, whether the caller listens on this node on its own sharded channel of this slot
    /// (chan; '' elsewhere). A write by a caller that does not would lose the holders' acknowledgements, and a read would
    /// register a holder this node's writers cannot reach: both are refused, and the caller follows the slot and retries.
    /// </summary>
    public const string Listening = """
        local function listening(chan)
          return chan == '' or redis.call('PUBSUB', 'SHARDNUMSUB', chan)[2] > 0
        end

        """;

    /// <summary>
    /// <c>notify(registry, me, chanPrefix, msg, cmd)</c> empties the holder registry (<c>SPOP</c>: a write command, so the
    /// writer's connection does not start tracking it) and publishes msg on each holder's channel (chanPrefix .. holder)
    /// except the writer's, with cmd (<c>PUBLISH</c>, or <c>SPUBLISH</c> on a cluster). Returns how many subscribers heard it,
    /// and on a cluster the holders that did not listen here (the slot came here before they followed it): the writer tells
    /// them on their home inbox.
    /// </summary>
    public const string Notify = """
        local function notify(registry, me, chanPrefix, msg, cmd)
          local n = 0
          local missed = {}
          for _, h in ipairs(redis.call('SPOP', registry, 1000000)) do
            if h ~= me then
              local reached = redis.call(cmd, chanPrefix .. h, msg)
              if reached == 0 and cmd == 'SPUBLISH' then missed[#missed + 1] = h end
              n = n + reached
            end
          end
          return n, missed
        end

        """;

    /// <summary>
    /// <c>write(key, registry, upload, w)</c> writes an entry from the table w (absexp, sldexp, data, ttl, writer, chanPrefix,
    /// msgPrefix, msgSuffix, registrationMs, publish, ownChannel, encoding, hold), notifies its holders and, when the writer
    /// keeps a copy (hold = '1'), registers it as the first holder of the new version and reads the version back last, so
    /// that the writer's connection tracks the key. A writer that keeps no copy is neither registered nor tracked.
    /// A large value does not come through ARGV (Lua would copy it): it was uploaded beforehand as the data field of
    /// upload, a key of the entry's slot, which then replaces the entry and receives its other fields.
    /// Returns {'written', version, holders notified, holders not reached}, {'not-listening'} or {'upload-missing'}.
    /// </summary>
    public const string Write = Listening + Notify + """
        local function write(key, registry, upload, w)
          if not listening(w.ownChannel) then return {'not-listening'} end
          local v
          if upload then
            if redis.call('EXISTS', upload) == 0 then return {'upload-missing'} end
            v = (tonumber(redis.call('HGET', key, 'ver')) or 0) + 1
            redis.call('RENAME', upload, key)
            redis.call('HSET', key, 'ver', v, 'absexp', w.absexp, 'sldexp', w.sldexp)
          else
            v = redis.call('HINCRBY', key, 'ver', 1)
            redis.call('HSET', key, 'absexp', w.absexp, 'sldexp', w.sldexp, 'data', w.data)
          end
          if w.encoding ~= '' then redis.call('HSET', key, 'enc', w.encoding) else redis.call('HDEL', key, 'enc') end
          local ttl = tonumber(w.ttl)
          if ttl > 0 then redis.call('PEXPIRE', key, ttl) else redis.call('PERSIST', key) end
          if w.hold == '1' then redis.call('HGET', key, 'ver') end
          local n, missed = notify(registry, w.writer, w.chanPrefix, w.msgPrefix .. string.format('%d', v) .. w.msgSuffix, w.publish)
          if w.hold == '1' then
            redis.call('SADD', registry, w.writer)
            redis.call('PEXPIRE', registry, w.registrationMs)
          end
          return {'written', v, n, missed}
        end

        """;
}
