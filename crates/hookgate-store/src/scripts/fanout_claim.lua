#!lua
-- Leases due events of a source's fan-out queue to this worker.
--
-- KEYS[1] fan-out queue (zset, score = due ms), KEYS[2] fan-out leases
-- (zset, score = lease expiry ms), KEYS[3] event index (zset by receive ms).
-- ARGV[1] now (ms), ARGV[2] lease (ms), ARGV[3] max events, ARGV[4] event
-- key prefix (`<prefix>:{<source>}:e:`), ARGV[5] retention (ms).
-- Returns a flat array: id1, type1, id2, type2, ...
--
-- Expired leases (a worker died mid fan-out) go back to the queue first.
-- Fan-out is idempotent (deliveries are created once), so a reclaimed event
-- is simply fanned out again.
local now = tonumber(ARGV[1])
-- Housekeeping once per claim: index entries past the retention go (their
-- events have expired with the same retention).
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[5]))
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], now, id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local ty = redis.call('HGET', ARGV[4] .. id, 'type')
  if ty then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), id)
    out[#out + 1] = id
    out[#out + 1] = ty
  end
end
return out
