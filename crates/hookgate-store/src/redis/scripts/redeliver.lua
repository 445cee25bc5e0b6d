#!lua
-- Delivers one stored event to one subscription again, whatever its
-- delivery's state: a fresh attempt budget, queued now, out of the dead
-- letters if it was there.
--
-- A delivery in flight (leased) is not queued a second time: it keeps its
-- lease and is marked `requeue`, and `route_finish` records its attempt's
-- outcome and queues it again at once, counting on from that attempt (as
-- the embedded store does). Before, it was queued beside its lease: it was
-- sent twice at once, the in-flight outcome was dropped (its lease was
-- retaken), and a dead outcome left it both dead-lettered and queued.
--
-- KEYS[1] route queue, KEYS[2] route dead letters, KEYS[3] route leases.
-- ARGV[1] now (ms), ARGV[2] retention (ms), ARGV[3] source key base,
-- ARGV[4] subscription id, ARGV[5] event id.
-- Returns 1, or 0 when the event is not stored (expired or unknown).
local now = ARGV[1]
local base = ARGV[3]
local id = ARGV[5]
if redis.call('EXISTS', base .. 'e:' .. id) == 0 then
  return 0
end
local dk = base .. 'x:' .. id .. ':' .. ARGV[4]
redis.call('ZREM', KEYS[2], id)
redis.call('HSET', dk, 'st', 'pending', 'n', 0, 'first', now, 'rc', 0, 'reason', '', 'replayed_at', now)
redis.call('HDEL', dk, 'dead_at', 'done_at')
redis.call('PEXPIRE', dk, ARGV[2])
redis.call('PEXPIRE', base .. 'e:' .. id, ARGV[2])
if redis.call('ZSCORE', KEYS[3], id) then
  redis.call('HSET', dk, 'requeue', 1)
else
  redis.call('ZADD', KEYS[1], now, id)
end
return 1
