-- SAMPLE: one queue's state for the operator's surface (metrics, the
-- dashboard, the API), read in one call so its numbers are of one moment.
-- Reads only, and a key of the wrong type reads as empty: a damaged key
-- must not blind the operator to the rest of the queue.
-- KEYS: pending delayed dead workers stats paused. ARGV: active key
-- prefix, most workers listed.
-- Returns {now ms, pending, delayed, active, dead, oldest created_at (-1:
-- none, or the job does not say), sha1 of the oldest frame ('' when
-- none), paused 0/1, {stats field, value, ...}, {worker, deadline,
-- frames held, ...}}. active sums the active lists of the workers listed.
-- Cost: a few O(1) reads, one frame decoded (at most OLDEST_DECODE_MAX
-- bytes) and one LLEN per worker listed.
local OLDEST_DECODE_MAX = 65536
local function kind(k) return redis.call('TYPE', k).ok end
local function llen(k) if kind(k) == 'list' then return redis.call('LLEN', k) end return 0 end
local now = clock()
local pending, dead = llen(KEYS[1]), llen(KEYS[3])
local delayed = 0
if kind(KEYS[2]) == 'zset' then delayed = redis.call('ZCARD', KEYS[2]) end
local created, sha = -1, ''
if pending > 0 then
  local x = redis.call('LINDEX', KEYS[1], -1)
  sha = redis.sha1hex(x)
  if #x <= OLDEST_DECODE_MAX then
    local ok, c = pcall(function()
      local j = mapget(x, 'job')
      return type(j) == 'string' and mapget(j, 'created_at') or nil
    end)
    if ok and type(c) == 'number' then created = c end
  end
end
local paused = redis.call('EXISTS', KEYS[6])
local stats = {}
if kind(KEYS[5]) == 'hash' then stats = redis.call('HGETALL', KEYS[5]) end
local ws, active = {}, 0
if kind(KEYS[4]) == 'zset' then
  local all = redis.call('ZRANGE', KEYS[4], 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
  for i = 1, #all, 2 do
    local n = llen(ARGV[1] .. all[i])
    active = active + n
    ws[#ws + 1] = all[i]
    ws[#ws + 1] = all[i + 1]
    ws[#ws + 1] = n
  end
end
return {now, pending, delayed, active, dead, created, sha, paused, stats, ws}
