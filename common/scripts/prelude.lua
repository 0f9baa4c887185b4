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
