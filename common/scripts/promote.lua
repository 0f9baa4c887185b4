-- PROMOTE: due frames from delayed to the left of pending, earliest due
-- nearest the right so they run first among themselves. Due is judged on
-- the Redis server's clock, so no one worker's clock runs other producers'
-- jobs early. Also keeps the queue's clock (see observe() in prelude.lua).
-- Returns the count moved and how many ms until the next frame is due (-1:
-- none), at most a day: a due time of 1e20 or inf means "not soon".
-- KEYS: delayed pending clock workers. ARGV: limit.
need(KEYS[1], 'zset'); need(KEYS[2], 'list'); need(KEYS[3], 'string'); need(KEYS[4], 'zset')
local now = observe(KEYS[3], KEYS[4])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #due > 0 then
  redis.call('ZREM', KEYS[1], unpack(due))
  redis.call('LPUSH', KEYS[2], unpack(due))
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if not nxt[2] then return {#due, -1} end
local wait = tonumber(nxt[2]) - now
if wait < 0 then wait = 0 end
if wait > 86400000 then wait = 86400000 end
return {#due, math.floor(wait)}
