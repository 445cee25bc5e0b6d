#!lua
-- Writes one copied record (see copy.rs) unless Redis holds it already:
-- `hookgate store copy` runs again without repeating anything.
--
-- ARGV[1] kind, ARGV[2] now (ms), then per kind:
-- claim:    KEYS[1] dedup marker; ARGV[3] until (ms).
-- event:    KEYS[1] event hash, KEYS[2] event index, KEYS[3] fan-out
--           queue; ARGV[3] id, [4] type, [5] CloudEvent, [6] traceparent,
--           [7] receive ms, [8] kept until (ms), [9] fan-out due ('' if
--           fanned out), [10] its places in line as JSON ('' if none).
-- delivery: KEYS[1] delivery hash, KEYS[2] attempt log, KEYS[3] route
--           queue, KEYS[4] route dead letters; ARGV[3] id, [4] state
--           (pending | delivered | dead), [5] due, delivered or dead-at
--           (ms), [6] attempts, [7] budget start (ms), [8] reclaims,
--           [9] last status code ('' if none), [10] reason, [11] replayed
--           at ('' if never), [12] kept until (ms), [13] ordering key
--           ('' if none), [14] '1' if held (state pending, not queued),
--           then the attempt log entries, oldest first.
-- line:     KEYS[1] the line, KEYS[2] position counter, KEYS[3] event
--           hash, KEYS[4] delivery hash, KEYS[5] route's held deliveries,
--           KEYS[6] route's blocked keys; ARGV[3] id, [4] position,
--           [5] retention (ms), [6] the ordering key.
--           Later positions of the store come after every imported one. A
--           held delivery takes its place in the held set; a waiting one
--           (only a head waits) that has failed marks its key blocked since
--           its budget start, as its retry did in the source store.
-- Returns 1 when written, 0 when already there (or already expired).
local kind = ARGV[1]
local now = tonumber(ARGV[2])
if kind == 'claim' then
  local ttl = tonumber(ARGV[3]) - now
  if ttl <= 0 then return 0 end
  if redis.call('SET', KEYS[1], '1', 'PX', ttl, 'NX') then return 1 end
  return 0
elseif kind == 'event' then
  local ttl = tonumber(ARGV[8]) - now
  if ttl <= 0 or redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
  redis.call('HSET', KEYS[1], 'type', ARGV[4], 'ce', ARGV[5], 'tp', ARGV[6], 'recv', ARGV[7])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[2], ARGV[7], ARGV[3])
  if ARGV[9] ~= '' then
    redis.call('ZADD', KEYS[3], ARGV[9], ARGV[3])
  end
  if ARGV[10] and ARGV[10] ~= '' then
    redis.call('HSET', KEYS[1], 'ol', ARGV[10])
  end
  return 1
elseif kind == 'delivery' then
  local ttl = tonumber(ARGV[12]) - now
  if ttl <= 0 or redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
  redis.call('HSET', KEYS[1], 'st', ARGV[4], 'n', ARGV[6], 'first', ARGV[7], 'rc', ARGV[8],
    'code', ARGV[9], 'reason', ARGV[10])
  if ARGV[11] ~= '' then
    redis.call('HSET', KEYS[1], 'replayed_at', ARGV[11])
  end
  if ARGV[13] and ARGV[13] ~= '' then
    redis.call('HSET', KEYS[1], 'ok', ARGV[13])
  end
  if ARGV[4] == 'pending' and ARGV[14] == '1' then
    -- Held: its place in the held set comes with its line's record.
    redis.call('HSET', KEYS[1], 'held', 1)
  elseif ARGV[4] == 'pending' then
    redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
  elseif ARGV[4] == 'dead' then
    redis.call('HSET', KEYS[1], 'dead_at', ARGV[5])
    redis.call('ZADD', KEYS[4], ARGV[5], ARGV[3])
  else
    redis.call('HSET', KEYS[1], 'done_at', ARGV[5])
  end
  redis.call('PEXPIRE', KEYS[1], ttl)
  if #ARGV >= 15 then
    redis.call('DEL', KEYS[2])
    for i = 15, #ARGV do
      redis.call('RPUSH', KEYS[2], ARGV[i])
    end
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
  return 1
elseif kind == 'line' then
  local pos = tonumber(ARGV[4])
  if not pos then return redis.error_reply('bad position') end
  local counter = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
  if pos > counter then
    redis.call('SET', KEYS[2], ARGV[4])
  end
  if redis.call('ZADD', KEYS[1], 'NX', pos, ARGV[3]) == 0 then return 0 end
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  if redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('HSETNX', KEYS[3], 'op', ARGV[4])
  end
  local d = redis.call('HMGET', KEYS[4], 'st', 'held', 'n', 'first', 'ok')
  if d[2] then
    redis.call('ZADD', KEYS[5], pos, ARGV[3])
  elseif d[1] == 'pending' and d[5] == ARGV[6] and (tonumber(d[3]) or 0) > 0 and tonumber(d[4]) then
    redis.call('ZADD', KEYS[6], 'NX', d[4], ARGV[6])
  end
  return 1
end
return redis.error_reply('unknown record kind')
