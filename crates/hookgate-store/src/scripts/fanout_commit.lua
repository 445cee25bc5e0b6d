#!lua
-- Creates the deliveries of leased events and releases their leases.
--
-- KEYS[1] fan-out leases (zset).
-- ARGV[1] now (ms), ARGV[2] retention (ms), ARGV[3] source key base
-- (`<prefix>:{<source>}:`), then per event: id, number of subscriptions k,
-- then k subscription ids.
--
-- A delivery is created once: if its record exists (the fan-out step is
-- being retried after a crash), it is left alone.
local now = tonumber(ARGV[1])
local retention = ARGV[2]
local base = ARGV[3]
local i = 4
while i <= #ARGV do
  local id = ARGV[i]
  local k = tonumber(ARGV[i + 1])
  for j = 1, k do
    local sub = ARGV[i + 1 + j]
    local dk = base .. 'x:' .. id .. ':' .. sub
    if redis.call('EXISTS', dk) == 0 then
      redis.call('HSET', dk, 'st', 'pending', 'n', 0, 'first', now)
      redis.call('PEXPIRE', dk, retention)
      redis.call('ZADD', base .. 'q:' .. sub, now, id)
    end
  end
  redis.call('ZREM', KEYS[1], id)
  i = i + 2 + k
end
return 1
