#!lua
-- Atomic dedup + durable enqueue of callbacks' events (docs/ingest.md step 6).
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
-- The claim comes first (`SET NX`: one command checks and takes it). The
-- writes after it go through `redis.pcall`: if one fails, this event's
-- writes and its claim are undone before the error is raised, so no key
-- stays claimed without its event and the provider's retry redoes the
-- write. (No such failure is expected: the `#!lua` shebang makes Redis
-- refuse the whole script up front when it is out of memory, and no
-- command is refused for memory once a script has written. Each write
-- answers an integer, so a table is its error; this check costs far less
-- than wrapping the writes in a Lua `pcall`.)
local now = tonumber(ARGV[1])
local n = (#KEYS - 2) / 2
local out = {}
local function failed(r)
  return type(r) == 'table'
end
for i = 1, n do
  local dedup = KEYS[2 + 2 * i - 1]
  local event = KEYS[2 + 2 * i]
  local a = 1 + 6 * (i - 1)
  local id = ARGV[a + 1]
  if not redis.call('SET', dedup, '1', 'PX', ARGV[a + 5], 'NX') then
    out[i] = 0
  else
    local err = redis.pcall('HSET', event, 'type', ARGV[a + 2], 'ce', ARGV[a + 3], 'tp', ARGV[a + 4], 'recv', now)
    if not failed(err) then
      err = redis.pcall('PEXPIRE', event, ARGV[a + 6])
    end
    if not failed(err) then
      err = redis.pcall('ZADD', KEYS[1], now, id)
    end
    if not failed(err) then
      err = redis.pcall('ZADD', KEYS[2], now, id)
    end
    if failed(err) then
      redis.pcall('ZREM', KEYS[2], id)
      redis.pcall('ZREM', KEYS[1], id)
      redis.pcall('DEL', event, dedup)
      return err
    end
    out[i] = 1
  end
end
return out
