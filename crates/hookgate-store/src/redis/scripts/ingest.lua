#!lua
-- Atomic dedup + durable enqueue of callbacks' events (docs/ingest.md step 6).
-- One call may carry the events of several callbacks of one source (group
-- commit, see batch.rs); the call is atomic, so each callback is too.
--
-- KEYS[1] fan-out queue (zset), KEYS[2] event index (zset),
-- then per event i: KEYS[2+2i-1] dedup marker, KEYS[2+2i] event hash.
-- ARGV[1] now (ms), then per event i: event id, normalized type,
-- CloudEvent JSON, traceparent ('' when none), dedup ttl (ms), retention
-- (ms), its places in line as the JSON object {subscription: ordering key}
-- ('' when none), their number k, then k pairs subscription, key.
-- Returns one integer per event: 1 = stored, 0 = duplicate (also when an
-- earlier event of the same call claimed the key: concurrent identical
-- callbacks enqueue exactly one).
-- (The event index is trimmed by the fan-out claim, once per batch, not
-- here once per event.)
--
-- An event with places (ordering keys, see lines.lua) takes them in the
-- same step as its claim: one position (`INCR <base>os`, kept in the
-- event's `op`, its places in `ol`) and an entry in each line. An event
-- without places costs no command more than before. A line already naming
-- the id (the provider sent it again after the dedup window while its
-- earlier delivery still waits) keeps its place (`ZADD NX`).
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
-- The source's key base: the fan-out queue is `<base>fq`.
local base = string.sub(KEYS[1], 1, -3)
local out = {}
local function failed(r)
  return type(r) == 'table'
end
local a = 1
for i = 1, n do
  local dedup = KEYS[2 + 2 * i - 1]
  local event = KEYS[2 + 2 * i]
  local id = ARGV[a + 1]
  local k = tonumber(ARGV[a + 8]) or 0
  local places = a + 8
  a = a + 8 + 2 * k
  if not redis.call('SET', dedup, '1', 'PX', ARGV[places - 3], 'NX') then
    out[i] = 0
  else
    local retention = ARGV[places - 2]
    local err = redis.pcall('HSET', event, 'type', ARGV[places - 6], 'ce', ARGV[places - 5], 'tp', ARGV[places - 4], 'recv', now)
    if not failed(err) then
      err = redis.pcall('PEXPIRE', event, retention)
    end
    if not failed(err) then
      err = redis.pcall('ZADD', KEYS[1], now, id)
    end
    if not failed(err) then
      err = redis.pcall('ZADD', KEYS[2], now, id)
    end
    local added = {}
    if k > 0 and not failed(err) then
      -- Its places in line (a position never reused: a gap left by a
      -- failed write below is harmless).
      local pos = redis.pcall('INCR', base .. 'os')
      err = pos
      if not failed(err) then
        err = redis.pcall('HSET', event, 'ol', ARGV[places - 1], 'op', pos)
      end
      for j = 1, k do
        if failed(err) then break end
        local line = base .. 'o:' .. ARGV[places + 2 * j - 1] .. ':' .. ARGV[places + 2 * j]
        err = redis.pcall('ZADD', line, 'NX', pos, id)
        if err == 1 then
          added[#added + 1] = line
        end
        if not failed(err) then
          err = redis.pcall('PEXPIRE', line, retention)
        end
      end
    end
    if failed(err) then
      for _, line in ipairs(added) do
        redis.pcall('ZREM', line, id)
      end
      redis.pcall('ZREM', KEYS[2], id)
      redis.pcall('ZREM', KEYS[1], id)
      redis.pcall('DEL', event, dedup)
      return err
    end
    out[i] = 1
  end
end
return out
