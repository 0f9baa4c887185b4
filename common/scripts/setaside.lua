-- SETASIDE: a blocking take (BLMOVE) cannot look at a frame's length, so
-- when it hands the worker an oversized frame the worker drops its copy
-- and this moves every such frame of its active list to the dead list.
-- KEYS: active dead stats. ARGV: max frame bytes, worker, dead max.
need(KEYS[1], 'list'); need(KEYS[2], 'list'); need(KEYS[3], 'hash')
local max, now, big = tonumber(ARGV[1]), clock(), 0
local all = redis.call('LRANGE', KEYS[1], 0, -1)
for i = 1, #all do
  local x = all[i]
  if #x > max then
    redis.call('LREM', KEYS[1], 1, x)
    redis.call('LPUSH', KEYS[2], toobig(x, max, now, ARGV[2]))
    big = big + 1
  end
end
if big > 0 then
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
  redis.call('HINCRBY', KEYS[3], 'failed', big)
  redis.call('HINCRBY', KEYS[3], 'dead', big)
end
return big
