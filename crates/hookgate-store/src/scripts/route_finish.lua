#!lua
-- Records one attempt's outcome and moves the delivery on.
--
-- KEYS[1] route queue, KEYS[2] route leases, KEYS[3] route dead letters,
-- KEYS[4] delivery hash, KEYS[5] attempt log (list).
-- ARGV[1] event id, ARGV[2] lease seq, ARGV[3] outcome
-- (delivered | retry | dead | release), ARGV[4] now (ms), ARGV[5] due (ms,
-- for retry), ARGV[6] attempts so far (after this one), ARGV[7] attempt
-- JSON ('' for release), ARGV[8] last status code ('' if none),
-- ARGV[9] reason ('' if none), ARGV[10] retention (ms), ARGV[11] attempt
-- log cap.
-- Returns 1, or 0 when the lease was taken over (the outcome is dropped:
-- the new holder decides; at-least-once allows the extra send).
--
-- The lease is held only while its sequence number is current AND its entry
-- is still in the leases zset: a claim that found it expired removed that
-- entry (back to the queue, or dead-lettered as poison) without bumping the
-- sequence, and a late finish must not then mark a queued or dead-lettered
-- delivery done, or put a dead letter back in the queue.
if redis.call('HGET', KEYS[4], 'lease') ~= ARGV[2]
  or not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return 0
end
local id = ARGV[1]
local now = ARGV[4]
local outcome = ARGV[3]
redis.call('ZREM', KEYS[2], id)
if outcome == 'release' then
  -- Shutdown returned the lease without an attempt: back to the queue now.
  redis.call('ZADD', KEYS[1], now, id)
  return 1
end
redis.call('RPUSH', KEYS[5], ARGV[7])
redis.call('LTRIM', KEYS[5], -tonumber(ARGV[11]), -1)
redis.call('PEXPIRE', KEYS[5], ARGV[10])
redis.call('HSET', KEYS[4], 'n', ARGV[6], 'code', ARGV[8])
if outcome == 'delivered' then
  redis.call('HSET', KEYS[4], 'st', 'delivered', 'done_at', now)
elseif outcome == 'retry' then
  redis.call('ZADD', KEYS[1], ARGV[5], id)
else
  redis.call('HSET', KEYS[4], 'st', 'dead', 'reason', ARGV[9], 'dead_at', now)
  redis.call('ZADD', KEYS[3], now, id)
end
redis.call('PEXPIRE', KEYS[4], ARGV[10])
return 1
