-- Shared by every script: refuse a key of the wrong type before writing
-- anything (Redis does not roll a script back, so a WRONGTYPE halfway
-- through would leave a frame in neither list), and read the one clock
-- that every worker agrees on, the Redis server's.
local function need(k, want)
  local t = redis.call('TYPE', k).ok
  if t ~= 'none' and t ~= want then
    error({err = 'WRONGTYPE ' .. k .. ' holds a ' .. t .. ', not a ' .. want})
  end
end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Counters never decide a frame's fate: a damaged stats field (a string, an
-- integer at its maximum) must not abort a script halfway through.
local function count(key, field, n)
  if n > 0 then redis.pcall('HINCRBY', key, field, n) end
end
-- The queue's clock: the Redis TIME of the last PROMOTE or BEAT any worker
-- ran on it, every 250 ms per worker. A gap of more than STALL_MS (half the
-- smallest heartbeat TTL allowed) means Redis itself stalled (paused, a
-- long fork, a failover), or every worker did: nobody could beat, so every
-- deadline moves on by the gap, and no live worker looks lapsed because
-- Redis, not the worker, stopped. A clock that is missing, unreadable or
-- out of reach (more than STALL_MAX_MS) is not trusted: it is set anew and
-- no worker is judged lapsed until the next beat.
local STALL_MS, STALL_MAX_MS = 500, 600000
local function observe(clockkey, workers)
  local now = clock()
  local last = tonumber(redis.call('GET', clockkey))
  redis.call('SET', clockkey, now)
  if not last or last ~= last then return now, false end
  local gap = now - last
  if gap > STALL_MAX_MS or gap < -STALL_MAX_MS then return now, false end
  if gap > STALL_MS then
    local all = redis.call('ZRANGE', workers, 0, -1, 'WITHSCORES')
    for i = 1, #all, 2 do
      redis.call('ZADD', workers, tonumber(all[i + 1]) + gap, all[i])
    end
  end
  return now, true
end
