-- BEAT: this worker's heartbeat and the recovery of lapsed workers, on the
-- Redis server's clock (TIME), so no worker's own clock decides that
-- another has lapsed.
-- The queue's clock is kept as observe() in prelude.lua says, so a stall
-- of Redis makes no live worker look lapsed.
-- The active lists of workers whose deadline passed go back to the right
-- of pending (oldest rightmost: they run next), each frame's attempt
-- raised by one with error 'worker lost', so a job that kills its worker
-- cannot take every replica down in turn. A frame that cannot be read, or
-- whose walk would cost too much (bump.lua), is dead instead: it would be
-- dead-lettered when taken anyway, and put back unchanged it would never
-- have its lost attempts counted. A call moves at most RECOVER_FRAMES
-- frames or RECOVER_BYTES bytes and says whether more are left, so Redis
-- is never held long.
-- A lapsed worker stays on record until its list has stayed empty for a
-- TTL past its deadline: a blocking take it sent before it froze may still
-- move a frame there, and that frame is recovered too.
-- KEYS: workers pending stats clock dead. ARGV: worker, TTL ms, active key
-- prefix, '1' to recover (a stopping worker only beats), dead max.
-- Returns {frames moved, 1 if more are left}.
need(KEYS[1], 'zset'); need(KEYS[2], 'list'); need(KEYS[3], 'hash'); need(KEYS[4], 'string'); need(KEYS[5], 'list')
local RECOVER_FRAMES, RECOVER_BYTES = 1000, 8388608
local now, trusted = observe(KEYS[4], KEYS[1])
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if ARGV[4] ~= '1' or not trusted then return {0, 0} end
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'WITHSCORES', 'LIMIT', 0, 64)
local moved, dead, bytes, more = 0, 0, 0, 0
for j = 1, #lapsed, 2 do
  local w, n = lapsed[j], 0
  local ak = ARGV[3] .. w
  if redis.call('TYPE', ak).ok == 'list' then
    while true do
      if moved + dead >= RECOVER_FRAMES or bytes >= RECOVER_BYTES then more = 1; break end
      local f = redis.call('LPOP', ak)
      if not f then break end
      bytes = bytes + #f
      n = n + 1
      local ok, nf = pcall(bump, f, 'worker lost', now)
      if ok and nf then
        redis.call('RPUSH', KEYS[2], nf)
        moved = moved + 1
      else
        redis.call('LPUSH', KEYS[5], deadrec(f, 'worker lost, and its frame could not be read to count the attempt', now, ARGV[1]))
        dead = dead + 1
      end
    end
  end
  if more == 1 then break end
  if n == 0 and tonumber(lapsed[j + 1]) < now - ttl then
    redis.call('ZREM', KEYS[1], w)
  end
end
dead_pushed(KEYS[5], ARGV[5], KEYS[3], dead)
count(KEYS[3], 'failed', moved)
count(KEYS[3], 'retried', moved)
return {moved + dead, more}
