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
-- With an ordering key (`ok`; lines.lua, put before this text): a
-- delivered or dead one goes to the back of its line (queued now if
-- nothing stands before it, else held); a pending one keeps its place and
-- state (a held one stays held, its budget restarting when it becomes the
-- head); a head gets a fresh budget, so its line is no longer blocked.
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
local sub = ARGV[4]
local dk = base .. 'x:' .. id .. ':' .. sub
local d = redis.call('HMGET', dk, 'st', 'ok', 'held')
local key = d[2]
redis.call('ZREM', KEYS[2], id)
redis.call('HSET', dk, 'st', 'pending', 'n', 0, 'first', now, 'rc', 0, 'reason', '', 'replayed_at', now)
redis.call('HDEL', dk, 'dead_at', 'done_at')
redis.call('PEXPIRE', dk, ARGV[2])
redis.call('PEXPIRE', base .. 'e:' .. id, ARGV[2])
if key and d[1] == 'pending' then
  local line = line_key(base, sub, key)
  if not d[3] and redis.call('ZRANGE', line, 0, 0)[1] == id then
    redis.call('ZREM', base .. 'ob:' .. sub, key)
  end
  if d[3] then
    return 1
  end
end
if redis.call('ZSCORE', KEYS[3], id) then
  redis.call('HSET', dk, 'requeue', 1)
elseif key and d[1] ~= 'pending' then
  line_rejoin(base, sub, key, id, dk, now, ARGV[2])
else
  redis.call('ZADD', KEYS[1], now, id)
end
return 1
