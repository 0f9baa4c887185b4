-- PROMOTE: due frames from delayed to the left of pending, earliest due
-- nearest the right so they run first among themselves. Returns the count
-- moved and the next due time (-1: none; it may be a float such as 1e+20
-- or inf, which the caller reads as "not soon").
-- KEYS: delayed pending. ARGV: now ms, limit.
need(KEYS[1], 'zset'); need(KEYS[2], 'list')
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then
  redis.call('ZREM', KEYS[1], unpack(due))
  redis.call('LPUSH', KEYS[2], unpack(due))
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, nxt[2] or '-1'}
