#!lua
-- Atomic dedup + durable enqueue of callbacks' events (SPEC §2 step 6).
-- One call may carry the events of several callbacks of one source (group
-- commit, see batch.rs); the call is atomic, so each callback is too.
--
-- KEYS[1] fan-out queue (zset), KEYS[2] event index (zset),
-- then per event i: KEYS[2+2i-1] dedup marker, KEYS[2+2i] event hash.
-- ARGV[1] now (ms), then per event i, 6 values: event id, normalized type,
-- CloudEvent JSON, traceparent ('' when none), dedup ttl (ms), retention
-- (ms).
-- Returns one integer per event: 1 = stored, 0 = duplicate (also when an
-- earlier event of the same call claimed the key: concurrent identical
-- callbacks enqueue exactly one).
-- (The event index is trimmed by the fan-out claim, once per batch, not
-- here once per event.)
--
-- The claim comes first (`SET NX`: one command checks and takes it); the
-- writes after it run under `pcall`, and if one fails, this event's writes
-- and its claim are undone before the error is raised: no key stays
-- claimed without its event, so the provider's retry redoes the write. (No
-- such failure is expected: the `#!lua` shebang makes Redis refuse the
-- whole script up front when it is out of memory, and no command is
-- refused for memory once a script has written.)
local now = tonumber(ARGV[1])
local n = (#KEYS - 2) / 2
local out = {}
for i = 1, n do
  local dedup = KEYS[2 + 2 * i - 1]
  local event = KEYS[2 + 2 * i]
  local a = 1 + 6 * (i - 1)
  local id = ARGV[a + 1]
  if not redis.call('SET', dedup, '1', 'PX', ARGV[a + 5], 'NX') then
    out[i] = 0
  else
    local ok, err = pcall(function()
      redis.call('HSET', event, 'type', ARGV[a + 2], 'ce', ARGV[a + 3], 'tp', ARGV[a + 4], 'recv', now)
      redis.call('PEXPIRE', event, ARGV[a + 6])
      redis.call('ZADD', KEYS[1], now, id)
      redis.call('ZADD', KEYS[2], now, id)
    end)
    if not ok then
      redis.pcall('ZREM', KEYS[2], id)
      redis.pcall('ZREM', KEYS[1], id)
      redis.pcall('DEL', event, dedup)
      error(err)
    end
    out[i] = 1
  end
end
return out
