-- PICK: io jobs do not wait behind CPU jobs in the same queue. Looks at
-- the oldest frames of pending (its right end) and moves only those whose
-- job type is one of the io types listed, oldest first, to the left of
-- this worker's active list, where TAKE would have put them; every other
-- frame stays in pending, in its order.
-- A paused queue (its paused key exists) gives nothing: the reply is {-1}.
-- KEYS: pending active paused. ARGV: want (most frames moved), scan (most frames
-- looked at, from the oldest, moved ones included), max frame bytes (a
-- longer frame is passed over, left for TAKE to send to dead), byte budget
-- (no further frame is read once this many bytes have been), walk budget
-- (no further frame is read once this many msgpack items have been walked
-- in all: io type names a hostile producer put in CPU frames cost a PICK
-- this much, never scan * WALK_MAX), then the io job types, one per
-- argument (none: nothing moves).
-- Reply: the frames moved, oldest first (bulk strings, as TAKE replies),
-- then one integer: the length of pending after the pick (0: pending is
-- empty or absent), always present.
-- Guarantees: atomic; moves only frames that read as the worker reads
-- them (exactly one msgpack map with v 1 and a bin job that is exactly
-- one msgpack map with a str type in the list, neither nested deeper than
-- 32, read by bump.lua's walk: Redis' cmsgpack cannot read bin); each by
-- LREM pending -1 then LPUSH active, so no frame is in neither list or in
-- both; a frame that does not read, or whose walk passes WALK_MAX items,
-- is passed over, never an error, and left where it was. A byte-identical
-- copy nearer the right end than the one looked at would have been looked
-- at first and moved, so LREM -1 removes the copy looked at.
-- Cost: at most scan frames read, one LINDEX each from the right end (the
-- frames passed over stay there, so the next is just left of them), and
-- no frame once budget bytes are read: like TAKE, a backlog of large
-- frames costs one frame over the budget, never a range of them at once.
-- A frame is walked only when it is at most max bytes and an io type's
-- name occurs in its bytes (a plain find: the type's bytes are inside the
-- job's, which are inside the frame's), so a pending list of CPU jobs
-- costs no walking at all; a walk stops at WALK_MAX items. Each LREM finds
-- its frame after at most scan frames from the right end.
need(KEYS[1], 'list'); need(KEYS[2], 'list')
if redis.call('EXISTS', KEYS[3]) == 1 then return {-1} end
local want, scan = tonumber(ARGV[1]) or 0, tonumber(ARGV[2]) or 0
local max, budget = tonumber(ARGV[3]) or 0, tonumber(ARGV[4]) or 0
local walks = tonumber(ARGV[5]) or 0
local iotype, names = {}, {}
for i = 6, #ARGV do
  if not iotype[ARGV[i]] then names[#names + 1] = ARGV[i] end
  iotype[ARGV[i]] = true
end
-- The bytes of the str (kinds STR) or bin (kinds BIN) at p, else nil.
local STR, BIN = {[0xd9]=1,[0xda]=2,[0xdb]=4}, {[0xc4]=1,[0xc5]=2,[0xc6]=4}
local function raw(s, p, kinds)
  local b = s:byte(p)
  if kinds == STR and b >= 0xa0 and b <= 0xbf then return s:sub(p + 1, p + b - 0xa0) end
  local lw = kinds[b]
  if not lw then return nil end
  return s:sub(p + 1 + lw, p + lw + be(s, p + 1, lw))
end
-- The fields of the map that is all of s whose str keys are in keys:
-- name -> position of its value, the last occurrence winning as in the
-- worker; nil when s is not exactly one such map (mapget.lua's entries).
local function fields(s, keys)
  local at = {}
  if not entries(s, function(kp, vp)
    local key = raw(s, kp, STR)
    if key and keys[key] then at[key] = vp end
  end) then return nil end
  return at
end
local FRAME, JOB = {v = true, job = true}, {type = true}
-- The frame's job type when it is one of the io types and the frame reads
-- as the worker reads it: a map with v 1 and a bin job that is a map
-- with a str type.
local function io_type(x)
  local f = fields(x, FRAME)
  if not f or not f.v or not f.job or attempts_of(x, f.v) ~= 1 then return nil end
  local j = raw(x, f.job, BIN)
  if not j then return nil end
  local t = fields(j, JOB)
  if not t or not t.type then return nil end
  local name = raw(j, t.type, STR)
  if name and iotype[name] then return name end
end
local spent = 0 -- items walked in this call
local function is_io(x)
  if #x > max then return false end
  local named = false
  for i = 1, #names do
    if string.find(x, names[i], 1, true) then named = true; break end
  end
  if not named then return false end
  local ok, t = pcall(io_type, x)
  spent = spent + walked
  return ok and t ~= nil
end
local out, kept, bytes = {}, 0, 0
if #names > 0 then
  for _ = 1, scan do
    if #out >= want or bytes >= budget or spent >= walks then break end
    -- The frames looked at and left are the kept right-most ones: the
    -- next oldest is just left of them.
    local x = redis.call('LINDEX', KEYS[1], -(kept + 1))
    if not x then break end
    bytes = bytes + #x
    if is_io(x) then
      redis.call('LREM', KEYS[1], -1, x)
      redis.call('LPUSH', KEYS[2], x)
      out[#out + 1] = x
    else
      kept = kept + 1
    end
  end
end
out[#out + 1] = redis.call('LLEN', KEYS[1])
return out
