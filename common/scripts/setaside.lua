-- SETASIDE: a blocking take (BLMOVE) cannot look at a frame's length, so
-- when it hands the worker an oversized frame the worker drops its copy
-- and this moves it to the dead list. BLMOVE pushed it on the left, so it
-- is among the first few frames there (another take may have pushed some
-- since): only those are read, never everything in flight.
-- KEYS: active dead stats. ARGV: max frame bytes, worker, dead max.
need(KEYS[1], 'list'); need(KEYS[2], 'list'); need(KEYS[3], 'hash')
local max, now, big = tonumber(ARGV[1]), clock(), 0
local i = 0
while i < 16 do
  local x = redis.call('LINDEX', KEYS[1], i)
  if not x then break end
  if #x > max then
    redis.call('LREM', KEYS[1], 1, x)
    redis.call('LPUSH', KEYS[2], toobig(x, max, now, ARGV[2]))
    big = big + 1
  else
    i = i + 1
  end
end
dead_pushed(KEYS[2], ARGV[3], KEYS[3], big)
return big
