-- Replays dead letters of one route: each entry still in the dead letters
-- is removed from them, its attempt budget reset, and queued at its due
-- time (the caller spaces due times to pace a bulk replay).
--
-- KEYS[1] route queue, KEYS[2] route dead letters.
-- ARGV[1] now (ms), ARGV[2] retention (ms), ARGV[3] source key base,
-- ARGV[4] subscription id, then pairs: event id, due (ms).
-- Returns the number replayed. An entry no longer dead (already replayed)
-- is skipped: replay is idempotent. So is one whose event has outlived its
-- retention: nothing is left to send (it stays a dead letter, "expired";
-- before, it was counted as replayed and dead-lettered again at once).
--
-- A dead letter with an ordering key (`ok`) goes to the back of its line
-- (lines.lua, put before this text): queued at its due time if nothing
-- stands before it, else held (its due time then does not matter: it is
-- queued when it becomes the head).
local now = ARGV[1]
local retention = ARGV[2]
local base = ARGV[3]
local sub = ARGV[4]
local n = 0
for i = 5, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('EXISTS', base .. 'e:' .. id) == 1 and redis.call('ZREM', KEYS[2], id) == 1 then
    local dk = base .. 'x:' .. id .. ':' .. sub
    redis.call('HSET', dk, 'st', 'pending', 'n', 0, 'first', now, 'rc', 0, 'reason', '', 'replayed_at', now)
    redis.call('HDEL', dk, 'dead_at', 'done_at')
    redis.call('PEXPIRE', dk, retention)
    redis.call('PEXPIRE', base .. 'e:' .. id, retention)
    local key = redis.call('HGET', dk, 'ok')
    if key then
      line_rejoin(base, sub, key, id, dk, ARGV[i + 1], retention)
    else
      redis.call('ZADD', KEYS[1], ARGV[i + 1], id)
    end
    n = n + 1
  end
end
return n
