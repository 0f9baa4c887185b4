-- FINISH: a batch of n outcomes. KEYS: active pending delayed dead stats,
-- then n result keys, then n reply_to keys ('' for none). ARGV: events
-- channel, result TTL in ms, dead list length, then per outcome its kind
-- and the frame as taken, followed by what that kind needs:
--   ok:    result record, event, notify frame ('' for none)
--   retry: retry frame, due ms, event
--   dead:  dead record, result record ('' when the job could not be read),
--          event, notify frame
--   skip:  nothing (a redelivered job whose result already said ok)
-- Fencing: an outcome whose frame is no longer in this worker's active list
-- (another worker recovered it) writes nothing and counts nothing.
-- Isolation: every key the batch shares is type-checked before anything is
-- written, and the one key a producer names (reply_to) is pushed with
-- pcall: a refused reply is counted (stats reply_failed) and changes
-- nothing else, so one job can never abort, undo or lose another's outcome.
-- The reply is one character per outcome: '1' finished, '0' fenced, 'r'
-- finished but its reply could not be pushed.
-- A batch's frames are nearly always among the oldest of active, at its
-- right end (n + 32 frames from it for n outcomes): one LRANGE reads that
-- end, one LTRIM cuts it from the first frame of the batch on, and one
-- RPUSH puts back, in order, the frames after it that are not in the
-- batch. Only a frame beyond that end (and a batch of one) pays an LREM,
-- scanning from the right. So a job costs O(1), not a scan of everything
-- in flight, even when jobs finish out of take order.
-- Events go out only when someone listens: a message without subscribers
-- reaches nobody, and PUBLISH is a third of the per-job work here.
local n = (#KEYS - 5) / 2
need(KEYS[1], 'list'); need(KEYS[2], 'list'); need(KEYS[3], 'zset'); need(KEYS[4], 'list'); need(KEYS[5], 'hash')
local ttl = ARGV[2]
local listened = redis.call('PUBSUB', 'NUMSUB', ARGV[1])[2] > 0
local ok, failed, retried, dead, unreplied = 0, 0, 0, 0, 0
local done = {}
local a = 4
local function finish(i, rec, event, notify)
  if rec ~= '' then
    redis.call('SET', KEYS[5 + i], rec, 'PX', ttl)
    local reply = KEYS[5 + n + i]
    if reply ~= '' then
      local r = redis.pcall('RPUSH', reply, rec)
      if type(r) == 'table' and r.err then
        unreplied = unreplied + 1
        done[i] = 'r'
      else
        redis.call('PEXPIRE', reply, ttl)
      end
    end
  end
  if notify and notify ~= '' then redis.call('LPUSH', KEYS[2], notify) end
  if listened then redis.call('PUBLISH', ARGV[1], event) end
end
local trimmed = {}
if n > 1 then
  local want, b = {}, 4
  for i = 1, n do
    local f = ARGV[b + 1]
    want[f] = (want[f] or 0) + 1
    local kind = ARGV[b]
    b = b + (kind == 'dead' and 6 or (kind == 'skip' and 2 or 5))
  end
  local tail, first, keep = redis.call('LRANGE', KEYS[1], -n - 32, -1), nil, {}
  for j = 1, #tail do
    local f = tail[j]
    local c = want[f]
    if c and c > 0 then
      want[f] = c - 1
      trimmed[f] = (trimmed[f] or 0) + 1
      first = first or j
    elseif first then
      keep[#keep + 1] = f
    end
  end
  if first then
    redis.call('LTRIM', KEYS[1], 0, first - #tail - 2)
    if #keep > 0 then redis.call('RPUSH', KEYS[1], unpack(keep)) end
  end
end
for i = 1, n do
  local kind = ARGV[a]
  local f = ARGV[a + 1]
  local present
  local t = trimmed[f]
  if t and t > 0 then
    trimmed[f] = t - 1
    present = true
  else
    present = redis.call('LREM', KEYS[1], '-1', f) == 1
  end
  done[i] = present and '1' or '0'
  if kind == 'ok' then
    if present then
      ok = ok + 1
      finish(i, ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
    end
    a = a + 5
  elseif kind == 'retry' then
    if present then
      failed = failed + 1; retried = retried + 1
      redis.call('ZADD', KEYS[3], ARGV[a + 3], ARGV[a + 2])
      finish(i, '', ARGV[a + 4], nil)
    end
    a = a + 5
  elseif kind == 'dead' then
    if present then
      failed = failed + 1; dead = dead + 1
      redis.call('LPUSH', KEYS[4], ARGV[a + 2])
      finish(i, ARGV[a + 3], ARGV[a + 4], ARGV[a + 5])
    end
    a = a + 6
  else
    a = a + 2
  end
end
if dead > 0 then redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[3]) - 1) end
count(KEYS[5], 'processed', ok)
count(KEYS[5], 'failed', failed)
count(KEYS[5], 'retried', retried)
count(KEYS[5], 'dead', dead)
count(KEYS[5], 'reply_failed', unreplied)
return table.concat(done)
