-- ORPHANS: after a dropped connection a take may have moved frames whose
-- reply never arrived. Every frame in this worker's active list that the
-- worker does not hold (ARGV) goes back to the right of pending, so nothing
-- is stranded in the list of a live worker. Duplicates are counted.
-- KEYS: active pending.
need(KEYS[1], 'list'); need(KEYS[2], 'list')
local held = {}
for i = 1, #ARGV do held[ARGV[i]] = (held[ARGV[i]] or 0) + 1 end
local all = redis.call('LRANGE', KEYS[1], 0, -1)
local n = 0
for i = 1, #all do
  local f = all[i]
  if (held[f] or 0) > 0 then held[f] = held[f] - 1
  else
    redis.call('LREM', KEYS[1], 1, f)
    redis.call('RPUSH', KEYS[2], f)
    n = n + 1
  end
end
return n
