-- GCRA rate limiting for a batch of requests, each over several scopes, in one round trip.
--
-- Time is the server's (TIME), in microseconds; every number stays an integer below 2^53, so doubles are
-- exact. A key holds a scope's TAT (theoretical arrival time). Requests are applied in order; a request
-- is all-or-nothing: it consumes from its scopes only when every one of them admits it.
--
-- KEYS: the distinct keys of the batch.
-- ARGV[1]: the distinct limits, "interval tolerance interval tolerance ..." (µs; interval = period /
--   requests, tolerance = interval * burst).
-- ARGV[2]: the requests, "cost n key limit key limit ... cost n ..." (key and limit are 1-based indexes).
-- (Two strings rather than many arguments: argument packing dominates the client's cost otherwise.)
-- Returns 5 integers per request: allowed (1/0), scope (1-based position in the request: the denying
-- scope, or the one with the least remaining), retry after (µs), remaining, reset (µs until that scope is
-- full again).

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local limits = {}
for n in string.gmatch(ARGV[1], '%d+') do limits[#limits + 1] = tonumber(n) end
local spec = {}
for n in string.gmatch(ARGV[2], '%d+') do spec[#spec + 1] = tonumber(n) end

local tats = {}
local dirty = {}
local out = {}
local p = 1

while p <= #spec do
  local cost, n = spec[p], spec[p + 1]
  p = p + 2
  local keys, cur, nxt, per, tol = {}, {}, {}, {}, {}
  local denied_by, wait = 0, 0
  for s = 1, n do
    local key = KEYS[spec[p]]
    local li = spec[p + 1] * 2
    p = p + 2
    local tat = tats[key]
    if tat == nil then
      tat = tonumber(redis.call('GET', key)) or 0
      tats[key] = tat
    end
    if tat < now then tat = now end
    local interval, tolerance = limits[li - 1], limits[li]
    local new_tat = tat + cost * interval
    local over = new_tat - now - tolerance
    if over > 0 and (denied_by == 0 or over > wait) then
      denied_by, wait = s, over
    end
    keys[s], cur[s], nxt[s], per[s], tol[s] = key, tat, new_tat, interval, tolerance
  end

  local scope, least, reset = denied_by, -1, 0
  for s = 1, n do
    local used
    if denied_by == 0 then
      used = nxt[s] - now
      if cost > 0 then
        tats[keys[s]] = nxt[s]
        dirty[keys[s]] = true
      end
    else
      used = cur[s] - now
    end
    local remaining = math.floor((tol[s] - used) / per[s])
    if remaining < 0 then remaining = 0 end
    if (denied_by == 0 and (least < 0 or remaining < least)) or denied_by == s then
      if denied_by == 0 then scope = s end
      least, reset = remaining, used
    end
  end

  local i = #out
  out[i + 1] = (denied_by == 0) and 1 or 0
  out[i + 2] = scope
  out[i + 3] = math.ceil(wait)
  out[i + 4] = least
  out[i + 5] = math.ceil(reset)
end

for key in pairs(dirty) do
  local tat = tats[key]
  redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
end
return out
