#!lua
-- Leases due deliveries of one route (source, subscription) to this worker.
--
-- KEYS[1] route queue (zset, score = due ms), KEYS[2] route leases (zset,
-- score = lease expiry ms), KEYS[3] route dead letters (zset, score = dead
-- at ms).
-- ARGV[1] now (ms), ARGV[2] lease (ms), ARGV[3] max deliveries,
-- ARGV[4] reclaim limit, ARGV[5] source key base (`<prefix>:{<source>}:`),
-- ARGV[6] subscription id, ARGV[7] retention (ms), ARGV[8] attempt log
-- cap (absent in calls of earlier versions: no log entry for a reclaim),
-- ARGV[9] the lease owner's instance id and ARGV[10] its run ('' or absent
-- in calls of earlier versions: the lease has no owner, only its expiry
-- returns it).
-- Returns { claimed, next_due } where claimed is a flat array of
-- id, lease token, attempts so far, budget start (ms), CloudEvent, traceparent
-- and next_due is the score of the earliest waiting delivery ('' if none).
--
-- Leases that expired (a worker died mid-delivery) go back to the queue; a
-- delivery reclaimed `reclaim limit` times is a poison message and is
-- dead-lettered. The lease token is the lease's expiry, its score in the
-- leases zset: `route_finish` ignores a worker whose lease was taken over,
-- because a lease is only ever retaken after it expired, so every new
-- token (now + lease) is later than every older one of the same delivery.
-- (Versions before this one kept a sequence number in the record's
-- `lease` field; it is no longer written or read.)
--
-- A reclaimed lease was an attempt whose outcome is unknown: the worker
-- may have sent it before it died (the subscriber saw `hookgate-attempt:
-- n + 1`). It goes into the attempt log as such, with the time the lease
-- began (its end less this call's lease: every instance leases for the
-- shared visibility_timeout), so operators see every send that may have
-- happened; it uses no attempt budget (the next send has the same number).
--
-- A lease's owner is kept in the delivery's record: `lo` (instance id),
-- `lr` (its run) and `lt` (the lease token it holds). route_takeback.lua
-- takes back a lease whose `lo` is the restarted instance, `lr` an earlier
-- run and `lt` still the lease's score (so fields left from an older lease,
-- which nothing clears, never match a newer one, whoever holds it).
local now = tonumber(ARGV[1])
local base = ARGV[5]
local sub = ARGV[6]
local retention = tonumber(ARGV[7])
local cap = tonumber(ARGV[8])
local lease = tonumber(ARGV[2])

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
-- Housekeeping: dead letters older than the retention go (their records
-- have expired with the same retention).
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - retention)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, 100)
for e = 1, #expired, 2 do
  local id = expired[e]
  local token = tonumber(expired[e + 1])
  redis.call('ZREM', KEYS[2], id)
  local dk = base .. 'x:' .. id .. ':' .. sub
  if cap then
    local started = math.min(now, math.max(0, token - lease))
    local n = tonumber(redis.call('HGET', dk, 'n') or '0') or 0
    local log = base .. 'a:' .. id .. ':' .. sub
    local entry = cjson.encode({
      n = n + 1,
      at = rfc3339(started),
      error = 'no outcome: the lease expired (the worker stopped or stalled); the subscriber may have received it',
      duration_ms = math.max(0, now - started),
    })
    if redis.call('RPUSH', log, entry) > cap then
      redis.call('LTRIM', log, -cap, -1)
    end
    redis.call('PEXPIRE', log, retention)
  end
  -- Back to the queue (or dead) now: a redeliver waiting for this
  -- attempt's end has nothing left to wait for.
  redis.call('HDEL', dk, 'requeue')
  local reclaims = redis.call('HINCRBY', dk, 'rc', 1)
  if redis.call('PTTL', dk) < 0 then
    -- The record had expired and HINCRBY recreated it: give it a lifetime.
    redis.call('PEXPIRE', dk, retention)
  end
  if reclaims >= tonumber(ARGV[4]) then
    redis.call('HSET', dk, 'st', 'dead', 'reason', 'poison: reclaimed ' .. reclaims .. ' times', 'dead_at', now)
    redis.call('PEXPIRE', dk, retention)
    redis.call('ZADD', KEYS[3], now, id)
  else
    redis.call('ZADD', KEYS[1], now, id)
  end
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local dk = base .. 'x:' .. id .. ':' .. sub
  local ev = redis.call('HMGET', base .. 'e:' .. id, 'ce', 'tp')
  if ev[1] then
    local token = now + tonumber(ARGV[2])
    redis.call('ZADD', KEYS[2], token, id)
    if ARGV[9] and ARGV[9] ~= '' then
      redis.call('HSET', dk, 'lo', ARGV[9], 'lr', ARGV[10], 'lt', token)
      if redis.call('PTTL', dk) < 0 then
        redis.call('PEXPIRE', dk, retention)
      end
    end
    local d = redis.call('HMGET', dk, 'n', 'first')
    out[#out + 1] = id
    out[#out + 1] = token
    out[#out + 1] = d[1] or '0'
    out[#out + 1] = d[2] or tostring(now)
    out[#out + 1] = ev[1]
    out[#out + 1] = ev[2] or ''
  else
    -- The event outlived its retention: nothing left to send.
    redis.call('HSET', dk, 'st', 'dead', 'reason', 'expired: event past retention', 'dead_at', now)
    redis.call('PEXPIRE', dk, retention)
    redis.call('ZADD', KEYS[3], now, id)
  end
end
local next_due = ''
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if head[2] then next_due = head[2] end
return { out, next_due }
