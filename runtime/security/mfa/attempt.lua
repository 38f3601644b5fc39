-- One second-factor attempt, atomically: refuse while the user or the client IP is locked out, check the
-- proof against its stored state, record the outcome.
--
-- KEYS[1] = target: last accepted TOTP step | set of recovery-code hashes | one-time-code hash
-- KEYS[2] = user's failure record, KEYS[3] (optional) = client IP's failure record (hashes: n, until)
-- ARGV = mode ('step' | 'member' | 'equal'), proof ('' when the code matched nothing), user free attempts,
--        IP free attempts, backoff base (ms), backoff cap (ms), failure memory (ms)
-- Returns {status, ms}: 0 ok | 1 invalid | 2 replayed (ms = lockout this failure started) | 3 locked (ms left)

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local wait = 0
for i = 2, #KEYS do
  local locked_until = tonumber(redis.call('HGET', KEYS[i], 'until') or 0)
  if locked_until - now > wait then wait = locked_until - now end
end
if wait > 0 then return {3, wait} end

local mode, proof = ARGV[1], ARGV[2]
local status = 1
if proof ~= '' then
  if mode == 'step' then
    -- RFC 6238 §5.2: a time step is accepted once; only a strictly later one may follow.
    local last = tonumber(redis.call('GET', KEYS[1]) or -1)
    if tonumber(proof) > last then
      redis.call('SET', KEYS[1], proof)
      status = 0
    else
      status = 2
    end
  elseif mode == 'member' then
    if redis.call('SREM', KEYS[1], proof) == 1 then status = 0 end
  else
    local stored = redis.call('GET', KEYS[1])
    if stored and stored == proof then
      redis.call('DEL', KEYS[1])
      status = 0
    end
  end
end

if status == 0 then
  redis.call('DEL', KEYS[2])  -- the IP record stays: one good account must not launder an IP's failures
  return {0, 0}
end

local free = {tonumber(ARGV[3]), tonumber(ARGV[4])}
local base, cap, memory = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local lock = 0
for i = 2, #KEYS do
  local n = redis.call('HINCRBY', KEYS[i], 'n', 1)
  local ttl = memory
  if n > free[i - 1] then
    local l = math.floor(math.min(base * 2 ^ (n - free[i - 1] - 1), cap))
    redis.call('HSET', KEYS[i], 'until', string.format('%.0f', now + l))
    if l > lock then lock = l end
    if l > ttl then ttl = l end
  end
  redis.call('PEXPIRE', KEYS[i], math.ceil(ttl))
end
return {status, lock}
