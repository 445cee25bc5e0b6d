-- Shared by route_claim.lua and route_takeback.lua: the gateway puts this
-- file after their `#!lua` line and before their own text (one script each,
-- so each stays atomic), after lines.lua. A lease given up without an
-- outcome is handled the same way whether it expired or its instance
-- restarted.

-- RFC 3339 with milliseconds, UTC, as the gateway writes `at` (days to a
-- civil date: H. Hinnant's algorithm; Lua numbers hold ms exactly).
local function rfc3339(ms)
  local secs = math.floor(ms / 1000)
  local days = math.floor(secs / 86400)
  local rem = secs - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d,
    math.floor(rem / 3600), math.floor(rem % 3600 / 60), rem % 60, ms % 1000)
end

-- Takes back the lease `token` of delivery `id` (already removed from the
-- leases zset) on the route of `queue` and `dead`: an attempt with no
-- known outcome goes into the log (`why` it has none; none when `cap` is
-- absent, as in calls of earlier versions), with the time the lease began
-- (its end less `lease`); the reclaim is counted and the lease's owner
-- fields cleared; then the delivery is queued again due `now`, or, at the
-- `limit`-th reclaim, dead-lettered as poison (leaving its ordering key's
-- line, which moves on).
local function reclaim(r, id, token, why)
  local dk = r.base .. 'x:' .. id .. ':' .. r.sub
  if r.cap then
    local started = math.min(r.now, math.max(0, token - r.lease))
    local n = tonumber(redis.call('HGET', dk, 'n') or '0') or 0
    local log = r.base .. 'a:' .. id .. ':' .. r.sub
    local entry = cjson.encode({
      n = n + 1,
      at = rfc3339(started),
      error = 'no outcome: ' .. why .. '; the subscriber may have received it',
      duration_ms = math.max(0, r.now - started),
    })
    if redis.call('RPUSH', log, entry) > r.cap then
      redis.call('LTRIM', log, -r.cap, -1)
    end
    redis.call('PEXPIRE', log, r.retention)
  end
  -- Back to the queue (or dead) now: a redeliver waiting for this
  -- attempt's end has nothing left to wait for.
  redis.call('HDEL', dk, 'requeue', 'lo', 'lr', 'lt')
  local reclaims = redis.call('HINCRBY', dk, 'rc', 1)
  if redis.call('PTTL', dk) < 0 then
    -- The record had expired and HINCRBY recreated it: give it a lifetime.
    redis.call('PEXPIRE', dk, r.retention)
  end
  if reclaims >= r.limit then
    redis.call('HSET', dk, 'st', 'dead', 'reason', 'poison: reclaimed ' .. reclaims .. ' times', 'dead_at', r.now)
    redis.call('PEXPIRE', dk, r.retention)
    redis.call('ZADD', r.dead, r.now, id)
    line_leave(r.base, r.sub, redis.call('HGET', dk, 'ok'), id, r.now)
  else
    redis.call('ZADD', r.queue, r.now, id)
  end
end
