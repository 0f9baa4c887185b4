-- REQUEUE: everything left in this worker's active list back to the right
-- of pending at shutdown, oldest rightmost, so those jobs run next; then the
-- worker leaves the heartbeat set. Both or neither: a worker that could not
-- return its frames stays on record, lapses, and is recovered.
-- KEYS: active pending workers. ARGV: worker.
need(KEYS[1], 'list'); need(KEYS[2], 'list'); need(KEYS[3], 'zset')
local n = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do n = n + 1 end
redis.call('ZREM', KEYS[3], ARGV[1])
return n
