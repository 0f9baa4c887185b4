-- SWEEP: recovery looks only at the workers on record, so an active list
-- whose worker is not there (the workers key was deleted or damaged) would
-- never be recovered. One SCAN step over the queue's active lists puts each
-- such worker on record with a deadline one TTL ahead: a live one beats
-- before then, a gone one lapses and is recovered like any other.
-- KEYS: workers. ARGV: SCAN cursor, active key prefix, TTL ms, SCAN count.
-- Returns {next cursor, workers put on record}.
need(KEYS[1], 'zset')
local now = clock()
local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2] .. '*', 'COUNT', tonumber(ARGV[4]))
local n = 0
for _, k in ipairs(r[2]) do
  local w = string.sub(k, #ARGV[2] + 1)
  if not redis.call('ZSCORE', KEYS[1], w) then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), w)
    n = n + 1
  end
end
return {r[1], n}
