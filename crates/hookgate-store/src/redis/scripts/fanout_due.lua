#!lua
-- Reads the due events of a source's fan-out queue, with their types.
--
-- KEYS[1] fan-out queue (zset, score = due ms), KEYS[2] fan-out leases
-- (zset, score = lease expiry ms; written by earlier versions only),
-- KEYS[3] event index (zset by receive ms).
-- ARGV[1] now (ms), ARGV[2] max events, ARGV[3] event key prefix
-- (`<prefix>:{<source>}:e:`), ARGV[4] retention (ms), ARGV[5] the latest
-- queue score to read (ms; `now` reads every due event, less leaves the
-- youngest to the in-process feed of the gateway that stored them).
-- Returns a flat array: id1, type1, id2, type2, ...
--
-- Nothing is leased: the events stay queued until `fanout_commit` takes
-- them off the queue in the same atomic step that creates their
-- deliveries. A worker that dies between the two leaves them for the next
-- read; two workers that read the same events fan them out once (the
-- second commit finds them gone). This costs one command per event where a
-- lease cost three.
local now = tonumber(ARGV[1])
-- Housekeeping once per read: index entries past the retention go (their
-- events have expired with the same retention).
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[4]))
-- Leases an older version left behind (its worker died) go back to the
-- queue once expired.
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], now, id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[5], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(due) do
  local ty = redis.call('HGET', ARGV[3] .. id, 'type')
  if ty then
    out[#out + 1] = id
    out[#out + 1] = ty
  else
    -- The event outlived its retention unfanned: nothing to deliver.
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
