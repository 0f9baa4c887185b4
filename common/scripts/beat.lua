-- BEAT: this worker's heartbeat and the recovery of lapsed workers, on the
-- Redis server's clock (TIME), so no worker's own clock decides that
-- another has lapsed.
-- A stall of Redis itself (paused, a long fork, a failover) or of every
-- worker at once shows as a gap since the last beat anyone saw (KEYS[4])
-- longer than half a TTL: nobody could beat during it, so every deadline
-- moves on by the gap and no live worker looks lapsed because Redis, not
-- the worker, stopped.
-- The active lists of workers whose deadline passed go back to the right
-- of pending (oldest rightmost: they run next), each frame's attempt
-- raised by one with error 'worker lost', so a job that kills its worker
-- cannot take every replica down in turn; a frame that cannot be read
-- goes back unchanged. A lapsed worker stays on record until its list has
-- stayed empty for a TTL past its deadline: a blocking take it sent before
-- it froze may still move a frame there, and that frame is recovered too.
-- KEYS: workers pending stats clock. ARGV: worker, TTL ms, active key
-- prefix, '1' to recover (a stopping worker only beats).
need(KEYS[1], 'zset'); need(KEYS[2], 'list'); need(KEYS[3], 'hash'); need(KEYS[4], 'string')
local now, ttl = clock(), tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[4]))
if last and now - last > ttl / 2 then
  local gap, all = now - last, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #all, 2 do
    redis.call('ZADD', KEYS[1], tonumber(all[i + 1]) + gap, all[i])
  end
end
if not last or now > last then redis.call('SET', KEYS[4], now) end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if ARGV[4] ~= '1' then return 0 end
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'WITHSCORES', 'LIMIT', 0, 64)
local moved = 0
for j = 1, #lapsed, 2 do
  local w, n = lapsed[j], 0
  local ak = ARGV[3] .. w
  if redis.call('TYPE', ak).ok == 'list' then
    while true do
      local f = redis.call('LPOP', ak)
      if not f then break end
      local ok, nf = pcall(bump, f, 'worker lost', now)
      redis.call('RPUSH', KEYS[2], (ok and nf) or f)
      n = n + 1
    end
  end
  moved = moved + n
  if n == 0 and tonumber(lapsed[j + 1]) < now - ttl then
    redis.call('ZREM', KEYS[1], w)
  end
end
if moved > 0 then
  redis.call('HINCRBY', KEYS[3], 'failed', moved)
  redis.call('HINCRBY', KEYS[3], 'retried', moved)
end
return moved
