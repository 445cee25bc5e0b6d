-- Records attempts' outcomes and moves their deliveries on. One call may
-- carry the outcomes of several attempts on routes of one source (group
-- commit, see batch.rs); each is handled on its own.
--
-- ARGV[1] now (ms); then per outcome i, KEYS (5 each): route queue, route
-- leases, route dead letters, delivery hash, attempt log (list); and ARGV
-- (12 each): event id, lease token, outcome (delivered | retry | dead |
-- release), due (ms, for retry), attempts so far (after this one), attempt
-- JSON ('' for release), last status code ('' if none), reason ('' if
-- none), retention (ms), attempt log cap, source key base, subscription id.
-- Returns one integer per outcome: 1, or 0 when the lease was taken over
-- (the outcome is dropped: the new holder decides; at-least-once allows
-- the extra send).
--
-- The lease is held only while the delivery's entry in the leases zset
-- still has the token's score: a claim that found it expired removed that
-- entry (back to the queue, or dead-lettered as poison), and a claim after
-- that scored it later; a late finish must not then mark a queued, retaken
-- or dead-lettered delivery done, or put a dead letter back in the queue.
--
-- A delivery marked `requeue` (redelivered, or re-armed by a fan-out,
-- while this attempt was in flight) keeps this attempt's outcome in its
-- log, count and status code, stays pending, and is queued again now: it
-- goes again, counting on from this attempt.
--
-- Ordering keys (lines.lua, put before this text): a delivery with a key
-- (`ok`) is its line's head. Delivered or dead, it leaves the line and the
-- next one is queued; a retry keeps its place and marks the line blocked
-- (since its budget start, kept if already marked); a requeued one stays
-- head with a fresh budget, so not blocked.
local now = ARGV[1]

local function finish(k, a)
  local queue, leases, dlq, record, log = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
  local id, outcome = ARGV[a + 1], ARGV[a + 3]
  local held = redis.call('ZSCORE', leases, id)
  if not held or tonumber(held) ~= tonumber(ARGV[a + 2]) then
    return 0
  end
  redis.call('ZREM', leases, id)
  local again = redis.call('HDEL', record, 'requeue') == 1
  if outcome == 'release' then
    -- Shutdown returned the lease without an attempt: back to the queue now.
    redis.call('ZADD', queue, now, id)
    return 1
  end
  local retention = ARGV[a + 9]
  local cap = tonumber(ARGV[a + 10])
  local base, sub = ARGV[a + 11], ARGV[a + 12]
  local key = base and sub and redis.call('HGET', record, 'ok')
  -- No attempt JSON: dead-lettered unsent (a retry held back past max_age).
  if ARGV[a + 6] ~= '' then
    if redis.call('RPUSH', log, ARGV[a + 6]) > cap then
      redis.call('LTRIM', log, -cap, -1)
    end
    redis.call('PEXPIRE', log, retention)
  end
  if again then
    redis.call('HSET', record, 'n', ARGV[a + 5], 'code', ARGV[a + 7])
    redis.call('ZADD', queue, now, id)
    if key then
      redis.call('ZREM', base .. 'ob:' .. sub, key)
    end
  elseif outcome == 'delivered' then
    redis.call('HSET', record, 'n', ARGV[a + 5], 'code', ARGV[a + 7], 'st', 'delivered', 'done_at', now)
    line_leave(base, sub, key, id, tonumber(now))
  elseif outcome == 'retry' then
    redis.call('HSET', record, 'n', ARGV[a + 5], 'code', ARGV[a + 7])
    redis.call('ZADD', queue, ARGV[a + 4], id)
    if key then
      redis.call('ZADD', base .. 'ob:' .. sub, 'NX', redis.call('HGET', record, 'first') or now, key)
    end
  else
    redis.call('HSET', record, 'n', ARGV[a + 5], 'code', ARGV[a + 7], 'st', 'dead', 'reason', ARGV[a + 8], 'dead_at', now)
    redis.call('ZADD', dlq, now, id)
    line_leave(base, sub, key, id, tonumber(now))
  end
  redis.call('PEXPIRE', record, retention)
  return 1
end

local out = {}
for i = 1, #KEYS / 5 do
  out[i] = finish(5 * (i - 1), 1 + 12 * (i - 1))
end
return out
