-- DEADLIST: the newest dead records for the API and the dashboard, read
-- one by one from the left, at most ARGV[1] of them. A record longer than
-- ARGV[2] bytes is answered by its length (an integer) instead of its
-- bytes, and no record is read once ARGV[3] bytes have been: a producer's
-- oversized frames, kept whole in their dead records, never travel to a
-- worker through a read anyone may make, and one call costs Redis at most
-- one record over the budget.
-- KEYS: dead. ARGV: count, max record bytes, byte budget.
need(KEYS[1], 'list')
local n, max, budget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out, bytes = {}, 0
for i = 0, n - 1 do
  if bytes >= budget then break end
  local r = redis.call('LINDEX', KEYS[1], i)
  if not r then break end
  bytes = bytes + #r
  if #r > max then out[#out + 1] = #r else out[#out + 1] = r end
end
return out
