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
-- A delivery dead-lettered here (poison, or its event expired) leaves its
-- ordering key's line (lines.lua, put before reclaim.lua), which moves on.
--
-- A lease's owner is kept in the delivery's record: `lo` (instance id),
-- `lr` (its run) and `lt` (the lease token it holds). route_takeback.lua
-- takes back a lease whose `lo` is the restarted instance, `lr` an earlier
-- run and `lt` still the lease's score (a reclaim clears them; fields left
-- from an older lease never match a newer one anyway, whoever holds it).
local now = tonumber(ARGV[1])
local base = ARGV[5]
local sub = ARGV[6]
local retention = tonumber(ARGV[7])
local cap = tonumber(ARGV[8])
local lease = tonumber(ARGV[2])

-- Housekeeping: dead letters older than the retention go (their records
-- have expired with the same retention).
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - retention)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, 100)
local r = {
  queue = KEYS[1], dead = KEYS[3], base = base, sub = sub, now = now, lease = lease,
  retention = retention, cap = cap, limit = tonumber(ARGV[4]),
}
for e = 1, #expired, 2 do
  local id = expired[e]
  redis.call('ZREM', KEYS[2], id)
  reclaim(r, id, tonumber(expired[e + 1]), 'the lease expired (the worker stopped or stalled)')
end
-- Lines left unmoved (see line_sweep in lines.lua), a few per claim.
line_sweep(base, sub, 2, now)
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
    line_leave(base, sub, redis.call('HGET', dk, 'ok'), id, now)
  end
end
local next_due = ''
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if head[2] then next_due = head[2] end
return { out, next_due }
