-- TAKE: up to ARGV[1] frames from the right (oldest) end of pending to the
-- left of this worker's active list, oldest first, in a few commands
-- however many frames: the script is atomic, so no frame is ever in
-- neither list. A frame longer than ARGV[2] bytes goes straight to the
-- dead list with a record built here: the worker never holds it, so a
-- producer's oversized frames cost its memory nothing.
-- KEYS: pending active dead stats. ARGV: n, max frame bytes, worker, dead max.
need(KEYS[1], 'list'); need(KEYS[2], 'list'); need(KEYS[3], 'list'); need(KEYS[4], 'hash')
local f = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
if #f == 0 then return f end
redis.call('LTRIM', KEYS[1], 0, -#f - 1)
local max, out, big, now = tonumber(ARGV[2]), {}, 0, nil
for i = #f, 1, -1 do
  local x = f[i]
  if #x > max then
    now = now or clock()
    redis.call('LPUSH', KEYS[3], toobig(x, max, now, ARGV[3]))
    big = big + 1
  else
    out[#out + 1] = x
  end
end
if big > 0 then
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
  redis.call('HINCRBY', KEYS[4], 'failed', big)
  redis.call('HINCRBY', KEYS[4], 'dead', big)
end
if #out > 0 then redis.call('LPUSH', KEYS[2], unpack(out)) end
return out
