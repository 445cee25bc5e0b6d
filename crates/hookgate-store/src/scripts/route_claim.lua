#!lua
-- Leases due deliveries of one route (source, subscription) to this worker.
--
-- KEYS[1] route queue (zset, score = due ms), KEYS[2] route leases (zset,
-- score = lease expiry ms), KEYS[3] route dead letters (zset, score = dead
-- at ms).
-- ARGV[1] now (ms), ARGV[2] lease (ms), ARGV[3] max deliveries,
-- ARGV[4] reclaim limit, ARGV[5] source key base (`<prefix>:{<source>}:`),
-- ARGV[6] subscription id, ARGV[7] retention (ms).
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
local now = tonumber(ARGV[1])
local base = ARGV[5]
local sub = ARGV[6]
local retention = tonumber(ARGV[7])
-- Housekeeping: dead letters older than the retention go (their records
-- have expired with the same retention).
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - retention)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  local dk = base .. 'x:' .. id .. ':' .. sub
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
