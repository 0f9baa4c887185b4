-- PURGE: deletes one of a queue's lists or sets (pending, delayed or dead,
-- chosen by the caller), as `jobq purge` does, and says how many frames or
-- records went with it. Atomic: the count is what was deleted.
-- KEYS: the key. Returns the count.
local t = redis.call('TYPE', KEYS[1]).ok
local n = 0
if t == 'list' then n = redis.call('LLEN', KEYS[1])
elseif t == 'zset' then n = redis.call('ZCARD', KEYS[1]) end
redis.call('DEL', KEYS[1])
return n
