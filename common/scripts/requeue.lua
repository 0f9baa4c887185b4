-- REQUEUE: everything left in this worker's active list back to the right
-- of pending at shutdown, oldest rightmost, so those jobs run next.
-- KEYS: active pending.
need(KEYS[1], 'list'); need(KEYS[2], 'list')
local n = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do n = n + 1 end
return n
