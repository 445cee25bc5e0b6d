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

local r = {
  queue = KEYS[1], dead = KEYS[3], base = base, sub = sub, now = now, lease = lease,
  retention = retention, cap = cap, limit = limit,
}
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
    reclaim(r, id, token, 'the gateway instance holding the lease restarted')
  end
end
return { taken, #leased / 2 }
