-- TAKE: up to ARGV[1] frames from the right (oldest) end of pending to the
-- left of this worker's active list, oldest first, one LMOVE each: the
-- script is atomic and LMOVE moves, so no frame is ever in neither list. A frame longer than ARGV[2] bytes goes straight to the
-- dead list with a record built here: the worker never holds it, so a
-- producer's oversized frames cost its memory nothing.
-- A take stops once ARGV[5] bytes of frames have moved: frames are looked
-- at one by one (a frame's length is known only once it is read), so a
-- backlog of large frames costs each call a bounded amount of Redis' time
-- and memory, never the lot at once; reading them in ranges instead would
-- pull a whole range of large frames into Lua at a time.
-- A paused queue (its paused key exists, protocol.md) gives nothing: the
-- reply is then {-1}, so the worker knows not to block on it either.
-- KEYS: pending active dead stats paused. ARGV: n, max frame bytes,
-- worker, dead max, byte budget.
need(KEYS[1], 'list'); need(KEYS[2], 'list'); need(KEYS[3], 'list'); need(KEYS[4], 'hash')
if redis.call('EXISTS', KEYS[5]) == 1 then return {-1} end
local n, max, budget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[5])
local out, big, bytes, now = {}, 0, 0, nil
for _ = 1, n do
  if bytes >= budget then break end
  local x = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not x then break end
  bytes = bytes + #x
  if #x > max then
    redis.call('LPOP', KEYS[2])
    now = now or clock()
    redis.call('LPUSH', KEYS[3], toobig(x, max, now, ARGV[3]))
    big = big + 1
  else
    out[#out + 1] = x
  end
end
dead_pushed(KEYS[3], ARGV[4], KEYS[4], big)
return out
