-- Ordering keys' lines (the contract's "Ordering keys"), shared by every
-- script that creates, moves or ends a delivery: the gateway puts this file
-- after their `#!lua` line (no script can call another), so each stays one
-- atomic step on the source's slot.
--
-- A line is the zset `<base>o:<sub>:<key>` (member event id, score its
-- position from `<base>os`). Only its first live entry, the head, is ever
-- queued or leased; the deliveries behind it are held: `held` = 1 in their
-- record (status still `pending`) and in `<base>h:<sub>` (score position),
-- never in the route queue. `<base>ob:<sub>` names the lines whose head has
-- failed (member key, score the head's budget start).
--
-- An entry is dead when its delivery can never come or has gone: no
-- record and no event (the event expired before fan-out, or both expired),
-- or a record that is delivered or dead (left behind by a run cut short).
-- Dead entries are dropped wherever a head is looked for, so a line never
-- waits on them. A line lives as long as its newest entry's event could
-- (its TTL is the retention again at each new entry).

local function line_key(base, sub, key)
  return base .. 'o:' .. sub .. ':' .. key
end

-- Whether line entry `head` is dead (see above); `st` is its record's
-- status on the line's route (false: no record).
local function line_dead(base, head, st)
  if st then
    return st == 'delivered' or st == 'dead'
  end
  return redis.call('EXISTS', base .. 'e:' .. head) == 0
end

-- Whether `id` is the first live entry of the line of `key` (dropping the
-- dead ones before it, and with them the key's blocked mark). An id that
-- is not in the line at all counts as first: a delivery nothing stands
-- before must never wait forever.
local function line_first(base, sub, key, id)
  local line = line_key(base, sub, key)
  if not redis.call('ZSCORE', line, id) then
    return true
  end
  while true do
    local head = redis.call('ZRANGE', line, 0, 0)[1]
    if not head or head == id then
      return true
    end
    local st = redis.call('HGET', base .. 'x:' .. head .. ':' .. sub, 'st')
    if not line_dead(base, head, st) then
      return false
    end
    redis.call('ZREM', line, head)
    redis.call('ZREM', base .. 'ob:' .. sub, key)
  end
end

-- Puts delivery `id` (record `dk`, ordering key `key`) where its line says:
-- queued due `due` when it is the line's first entry, else held.
local function line_place(base, sub, key, id, dk, due)
  if line_first(base, sub, key, id) then
    redis.call('HDEL', dk, 'held')
    redis.call('ZREM', base .. 'h:' .. sub, id)
    redis.call('ZADD', base .. 'q:' .. sub, due, id)
  else
    redis.call('HSET', dk, 'held', 1)
    redis.call('ZREM', base .. 'q:' .. sub, id)
    redis.call('ZADD', base .. 'h:' .. sub, redis.call('ZSCORE', line_key(base, sub, key), id), id)
  end
end

-- Moves the line of `key` on after its head left: dead entries go (and
-- with them the key's blocked mark: a new head has not failed yet); a held
-- head is queued due `now`, its budget starting now; a head that is
-- waiting (queued, leased) or not fanned out yet stays where it is.
local function line_advance(base, sub, key, now)
  local line = line_key(base, sub, key)
  while true do
    local head = redis.call('ZRANGE', line, 0, 0)[1]
    if not head then
      redis.call('ZREM', base .. 'ob:' .. sub, key)
      return
    end
    local dk = base .. 'x:' .. head .. ':' .. sub
    local d = redis.call('HMGET', dk, 'st', 'held')
    if line_dead(base, head, d[1]) then
      redis.call('ZREM', line, head)
      redis.call('ZREM', base .. 'ob:' .. sub, key)
    else
      if d[1] == 'pending' and d[2] then
        redis.call('HDEL', dk, 'held')
        redis.call('HSET', dk, 'first', now)
        redis.call('ZREM', base .. 'h:' .. sub, head)
        redis.call('ZADD', base .. 'q:' .. sub, now, head)
      end
      return
    end
  end
end

-- Lines that a head left without moving them on would hold their
-- deliveries forever: a worker of an earlier version, during an upgrade,
-- finished a head without knowing of lines, or a head's event expired
-- before its fan-out. Route claims call this: it looks at up to `n` held
-- deliveries of the route, picked at random, and moves their lines on
-- (nothing to do for a line whose head still waits). One command when the
-- route holds none.
local function line_sweep(base, sub, n, now)
  local held = base .. 'h:' .. sub
  for _, id in ipairs(redis.call('ZRANDMEMBER', held, n)) do
    local dk = base .. 'x:' .. id .. ':' .. sub
    local d = redis.call('HMGET', dk, 'ok', 'held', 'st')
    if d[1] and d[2] then
      line_advance(base, sub, d[1], now)
    else
      -- No longer held (its record expired, or was re-armed unordered);
      -- a held mark without a key has no line to wait for.
      redis.call('ZREM', held, id)
      if d[2] then
        redis.call('HDEL', dk, 'held')
        if d[3] == 'pending' then
          redis.call('ZADD', base .. 'q:' .. sub, now, id)
        end
      end
    end
  end
end

-- Delivery `id` of route `sub` with ordering key `key` (nil or false: none)
-- leaves its line (delivered or dead-lettered); the line moves on.
local function line_leave(base, sub, key, id, now)
  if not key or key == '' then
    return
  end
  local line = line_key(base, sub, key)
  if redis.call('ZRANGE', line, 0, 0)[1] == id then
    redis.call('ZREM', base .. 'ob:' .. sub, key)
  end
  redis.call('ZREM', line, id)
  redis.call('ZREM', base .. 'h:' .. sub, id)
  redis.call('HDEL', base .. 'x:' .. id .. ':' .. sub, 'held')
  line_advance(base, sub, key, now)
end

-- Delivery `id` (record `dk`) of route `sub` with ordering key `key` goes
-- to the back of its line again (replay, redeliver of a finished one):
-- a new position; queued due `due` if nothing live stands before it,
-- else held.
local function line_rejoin(base, sub, key, id, dk, due, retention)
  local line = line_key(base, sub, key)
  local pos = redis.call('INCR', base .. 'os')
  redis.call('ZADD', line, pos, id)
  redis.call('PEXPIRE', line, retention)
  line_place(base, sub, key, id, dk, due)
end
