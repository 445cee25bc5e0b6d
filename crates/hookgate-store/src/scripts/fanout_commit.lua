#!lua
-- Takes read events off the fan-out queue and creates their deliveries.
--
-- KEYS[1] fan-out queue (zset).
-- ARGV[1] now (ms), ARGV[2] retention (ms), ARGV[3] source key base
-- (`<prefix>:{<source>}:`), then per event: id, number of subscriptions k,
-- then k subscription ids.
-- Returns the number of events this call fanned out.
--
-- An event is fanned out by the call that takes it off the queue, and only
-- by it: a second worker that read the same event finds it gone and
-- leaves it. A delivery whose record already exists (created by an older
-- version's worker racing this one during an upgrade) is left alone too.
local now = tonumber(ARGV[1])
local retention = ARGV[2]
local base = ARGV[3]
local i = 4
local fanned = 0
while i <= #ARGV do
  local id = ARGV[i]
  local k = tonumber(ARGV[i + 1])
  if redis.call('ZREM', KEYS[1], id) == 1 then
    fanned = fanned + 1
    for j = 1, k do
      local sub = ARGV[i + 1 + j]
      local dk = base .. 'x:' .. id .. ':' .. sub
      if redis.call('EXISTS', dk) == 0 then
        redis.call('HSET', dk, 'st', 'pending', 'n', 0, 'first', now)
        redis.call('PEXPIRE', dk, retention)
        redis.call('ZADD', base .. 'q:' .. sub, now, id)
      end
    end
  end
  i = i + 2 + k
end
return fanned
