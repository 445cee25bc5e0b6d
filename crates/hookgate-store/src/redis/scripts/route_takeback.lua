#!lua
-- Takes back, at a gateway's start, the leases its instance held on one
-- route (source, subscription) in an earlier run: a process that was
-- killed leaves them, and they would otherwise wait for their expiry
-- (visibility_timeout) before any worker sends them again.
--
-- KEYS[1] route queue, KEYS[2] route leases, KEYS[3] route dead letters
-- (as in route_claim.lua).
-- ARGV[1] now (ms), ARGV[2] lease (ms), ARGV[3] reclaim limit, ARGV[4]
-- source key base, ARGV[5] subscription id, ARGV[6] retention (ms),
-- ARGV[7] attempt log cap, ARGV[8] instance id, ARGV[9] its current run,
-- ARGV[10] offset and ARGV[11] count of the leases to look at (in score
-- order).
-- Returns { taken, looked at }.
--
-- A lease is taken back when its delivery's record says it is held by this
-- instance (`lo`) in another run (`lr`) with the token it still has (`lt`
-- equals its score in the leases zset; see route_claim.lua). Leases of
-- other instances, of the current run, and leases without an owner
-- (written by earlier versions) are left to expire. A lease taken back is
-- handled exactly as route_claim.lua handles an expired one: an attempt
-- with no known outcome in the log, one more reclaim (the fifth
-- dead-letters it as poison), back in the queue due now. A late finish of
-- the old lease (the process was not dead after all: two instances with
-- one id) finds its token gone and changes nothing.
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local base = ARGV[4]
local sub = ARGV[5]
local retention = tonumber(ARGV[6])
local cap = tonumber(ARGV[7])
local me, run = ARGV[8], ARGV[9]

-- RFC 3339 with milliseconds, UTC (as in route_claim.lua).
local function rfc3339(ms)
  local secs = math.floor(ms / 1000)
  local days = math.floor(secs / 86400)
  local rem = secs - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d,
    math.floor(rem / 3600), math.floor(rem % 3600 / 60), rem % 60, ms % 1000)
end

local leased = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '+inf', 'WITHSCORES', 'LIMIT', tonumber(ARGV[10]), tonumber(ARGV[11]))
local taken = 0
for e = 1, #leased, 2 do
  local id = leased[e]
  local token = tonumber(leased[e + 1])
  local dk = base .. 'x:' .. id .. ':' .. sub
  local owner = redis.call('HMGET', dk, 'lo', 'lr', 'lt')
  if owner[1] == me and owner[2] ~= run and tonumber(owner[3]) == token then
    taken = taken + 1
    redis.call('ZREM', KEYS[2], id)
    local started = math.min(now, math.max(0, token - lease))
    local n = tonumber(redis.call('HGET', dk, 'n') or '0') or 0
    local log = base .. 'a:' .. id .. ':' .. sub
    local entry = cjson.encode({
      n = n + 1,
      at = rfc3339(started),
      error = 'no outcome: the gateway instance holding the lease restarted; the subscriber may have received it',
      duration_ms = math.max(0, now - started),
    })
    if redis.call('RPUSH', log, entry) > cap then
      redis.call('LTRIM', log, -cap, -1)
    end
    redis.call('PEXPIRE', log, retention)
    redis.call('HDEL', dk, 'requeue', 'lo', 'lr', 'lt')
    local reclaims = redis.call('HINCRBY', dk, 'rc', 1)
    if redis.call('PTTL', dk) < 0 then
      redis.call('PEXPIRE', dk, retention)
    end
    if reclaims >= limit then
      redis.call('HSET', dk, 'st', 'dead', 'reason', 'poison: reclaimed ' .. reclaims .. ' times', 'dead_at', now)
      redis.call('PEXPIRE', dk, retention)
      redis.call('ZADD', KEYS[3], now, id)
    else
      redis.call('ZADD', KEYS[1], now, id)
    end
  end
end
return { taken, #leased / 2 }
