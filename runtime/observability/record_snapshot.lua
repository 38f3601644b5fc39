-- Keep one debug-probe snapshot if the probe is still within its rate and hit limit, across every gateway.
-- KEYS[1] hits counter, KEYS[2] this second's counter, KEYS[3] the probe's snapshot list, KEYS[4] the probes hash
-- ARGV[1] max hits, ARGV[2] max per second, ARGV[3] snapshot (JSON), ARGV[4] snapshots kept,
-- ARGV[5] seconds they are kept, ARGV[6] seconds the probe lives, ARGV[7] probe name, ARGV[8] arming id
-- Returns the hit number, -1 past the hit limit, -2 over the rate, -3 when the probe was re-armed or cleared.
local current = redis.call('HGET', KEYS[4], ARGV[7])
if not current or cjson.decode(current).id ~= ARGV[8] then
  return -3
end
local in_second = redis.call('INCR', KEYS[2])
if in_second == 1 then redis.call('EXPIRE', KEYS[2], 2) end
if in_second > tonumber(ARGV[2]) then return -2 end
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('EXPIRE', KEYS[1], ARGV[6]) end
if hits > tonumber(ARGV[1]) then return -1 end
redis.call('LPUSH', KEYS[3], ARGV[3])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
redis.call('EXPIRE', KEYS[3], ARGV[5])
if hits == tonumber(ARGV[1]) then redis.call('HDEL', KEYS[4], ARGV[7]) end
return hits
