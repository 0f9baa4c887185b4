-- TAKE: up to ARGV[1] frames from the right (oldest) end of pending to the
-- left of this worker's active list, oldest first, in a few commands
-- however many frames: the script is atomic, so no frame is ever in
-- neither list. A frame longer than ARGV[2] bytes goes straight to the
-- dead list with a record built here: the worker never holds it, so a
-- producer's oversized frames cost its memory nothing.
-- A take stops at ARGV[5] bytes of frames (the first frame always goes):
-- frames are read a few at first, then as many as the bytes left allow at
-- the size seen so far, so a backlog of large frames costs each call a
-- bounded amount of Redis' time and memory, never the lot at once, while a
-- backlog of small ones still moves a thousand in two reads.
-- KEYS: pending active dead stats. ARGV: n, max frame bytes, worker, dead
-- max, byte budget.
need(KEYS[1], 'list'); need(KEYS[2], 'list'); need(KEYS[3], 'list'); need(KEYS[4], 'hash')
local n, max, budget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[5])
local out, big, taken, bytes, now = {}, 0, 0, 0, nil
while taken < n and bytes < budget do
  local want = 8
  if taken > 0 then want = math.floor((budget - bytes) * taken / bytes) + 1 end
  want = math.min(want, n - taken)
  local f = redis.call('LRANGE', KEYS[1], -taken - want, -taken - 1)
  if #f == 0 then break end
  for i = #f, 1, -1 do
    if taken >= n or bytes >= budget then break end
    local x = f[i]
    taken = taken + 1
    bytes = bytes + #x
    if #x > max then
      now = now or clock()
      redis.call('LPUSH', KEYS[3], toobig(x, max, now, ARGV[3]))
      big = big + 1
    else
      out[#out + 1] = x
    end
  end
  if #f < want then break end
end
if taken == 0 then return out end
redis.call('LTRIM', KEYS[1], 0, -taken - 1)
if #out > 0 then redis.call('LPUSH', KEYS[2], unpack(out)) end
if big > 0 then
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
  count(KEYS[4], 'failed', big)
  count(KEYS[4], 'dead', big)
end
return out
