-- DEADRETRY: dead records back to pending, attempt reset (as `jobq retry`
-- does): each chosen record whose frame reads leaves the dead list and its
-- frame, without attempt, error and failed_at, goes to the right end of
-- pending (it runs next). Atomic: two operators retrying the same record
-- cannot both succeed, and no record is in neither list. A record whose
-- frame cannot be read stays dead (it would only die again) and is counted
-- as unreadable.
-- KEYS: dead pending. ARGV: 'all', or 'ids' followed by job ids.
-- Returns {retried, unreadable}.
-- Cost: one walk of the dead list, which dead-max bounds.
need(KEYS[1], 'list'); need(KEYS[2], 'list')
local all, want = ARGV[1] == 'all', {}
for i = 2, #ARGV do want[ARGV[i]] = true end
local recs = redis.call('LRANGE', KEYS[1], 0, -1)
local keep, retried, unreadable = {}, 0, 0
local function get(rec, name)
  local ok, v = pcall(mapget, rec, name)
  if ok and type(v) == 'string' then return v end
end
for _, rec in ipairs(recs) do
  local id = nil
  if not all then id = get(rec, 'id') end
  if all or (id and want[id]) then
    local f, frame = nil, get(rec, 'frame')
    if frame then
      local okf, nf = pcall(fresh, frame)
      if okf then f = nf end
    end
    if f then
      redis.call('RPUSH', KEYS[2], f)
      retried = retried + 1
    else
      unreadable = unreadable + 1
      keep[#keep + 1] = rec
    end
  else
    keep[#keep + 1] = rec
  end
end
if retried > 0 then
  redis.call('DEL', KEYS[1])
  for i = 1, #keep, 1000 do
    redis.call('RPUSH', KEYS[1], unpack(keep, i, math.min(i + 999, #keep)))
  end
end
return {retried, unreadable}
