-- Takes read events off the fan-out queue and creates their deliveries.
--
-- KEYS[1] fan-out queue (zset).
-- ARGV[1] now (ms), ARGV[2] retention (ms), ARGV[3] source key base
-- (`<prefix>:{<source>}:`), then per event: id, number of subscriptions k,
-- then k subscription ids.
-- Returns the number of events this call fanned out.
--
-- An event is fanned out by the call that takes it off the queue, and only
-- by it: a second worker that read the same event finds it gone and
-- leaves it.
--
-- A delivery record that already exists was made for an earlier ingest of
-- the same event id when the record is older than the event's receive
-- time: the provider sent the event again after `dedup_window` (7 days by
-- default, while records live for the 14 days of `retention`), the ingest
-- acknowledged it as new, so it is delivered again: the record is re-armed
-- as a fresh delivery (as a redeliver does; its attempt log goes on).
-- Before, such an event was acknowledged and never delivered. A record as
-- new as the event (an older version's worker racing this one during an
-- upgrade) is left alone. Reading `first` costs what `EXISTS` did; the
-- event's receive time is read only when a record exists. A re-armed
-- delivery still in flight is not queued beside its lease: it is marked
-- `requeue` and queued again when that attempt ends (see redeliver.lua).
--
-- Ordering keys (lines.lua, put before this text): an event's places are
-- read from its `ol` (one HGET per event; nothing else for an event
-- without places). A delivery for a subscription it has a place with gets
-- the key (`ok`) and is queued only when the event is first in that line,
-- else held. A place for a subscription this fan-out does not name (its
-- patterns changed since the ingest) is given up, and its line moves on.
-- An `ol` that is not a JSON object of strings counts as no places.
local now = tonumber(ARGV[1])
local retention = ARGV[2]
local base = ARGV[3]
local i = 4
local fanned = 0

-- The event's places: { [sub] = key }, empty when none or unreadable.
local function places(id)
  local raw = redis.call('HGET', base .. 'e:' .. id, 'ol')
  if not raw or raw == '' then
    return {}
  end
  local ok, decoded = pcall(cjson.decode, raw)
  local out = {}
  if ok and type(decoded) == 'table' then
    for sub, key in pairs(decoded) do
      if type(sub) == 'string' and type(key) == 'string' and key ~= '' then
        out[sub] = key
      end
    end
  end
  return out
end

while i <= #ARGV do
  local id = ARGV[i]
  local k = tonumber(ARGV[i + 1])
  if redis.call('ZREM', KEYS[1], id) == 1 then
    fanned = fanned + 1
    local ol = places(id)
    for j = 1, k do
      local sub = ARGV[i + 1 + j]
      local key = ol[sub]
      ol[sub] = nil
      local dk = base .. 'x:' .. id .. ':' .. sub
      local first = redis.call('HGET', dk, 'first')
      if not first then
        redis.call('HSET', dk, 'st', 'pending', 'n', 0, 'first', now)
        redis.call('PEXPIRE', dk, retention)
        if key then
          redis.call('HSET', dk, 'ok', key)
          line_place(base, sub, key, id, dk, now)
        else
          redis.call('ZADD', base .. 'q:' .. sub, now, id)
        end
      else
        local recv = tonumber(redis.call('HGET', base .. 'e:' .. id, 'recv') or '')
        if recv and tonumber(first) and tonumber(first) < recv then
          redis.call('ZREM', base .. 'dlq:' .. sub, id)
          redis.call('HSET', dk, 'st', 'pending', 'n', 0, 'first', now, 'rc', 0, 'reason', '')
          redis.call('HDEL', dk, 'dead_at', 'done_at')
          redis.call('PEXPIRE', dk, retention)
          if key then
            redis.call('HSET', dk, 'ok', key)
          else
            -- Unordered now: out of whatever line it was held in before.
            redis.call('HDEL', dk, 'ok', 'held')
            redis.call('ZREM', base .. 'h:' .. sub, id)
          end
          if redis.call('ZSCORE', base .. 'l:' .. sub, id) then
            redis.call('HSET', dk, 'requeue', 1)
          elseif key then
            line_place(base, sub, key, id, dk, now)
          else
            redis.call('ZADD', base .. 'q:' .. sub, now, id)
          end
        elseif key and not redis.call('HGET', dk, 'ok') then
          -- A record made before this fan-out (a redeliver of the stored
          -- event, an older version's worker) takes the event's place, so
          -- its end moves the line on.
          redis.call('HSET', dk, 'ok', key)
        end
      end
    end
    -- Places for subscriptions this fan-out did not name are given up.
    for sub, key in pairs(ol) do
      local line = line_key(base, sub, key)
      if redis.call('ZREM', line, id) == 1 then
        line_advance(base, sub, key, now)
      end
    end
  end
  i = i + 2 + k
end
return fanned
