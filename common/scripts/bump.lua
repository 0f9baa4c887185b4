-- A byte-level msgpack walk that rewrites a frame's attempt, error and
-- failed_at and keeps every other entry (the signed job bytes, kid, mac,
-- unknown keys) byte-exact. bump() returns nil for a frame it cannot read,
-- and for one whose walk would pass WALK_MAX items: a hostile frame of a
-- million tiny elements must not hold Redis for a tenth of a second.
local WALK_MAX = 4096
local walked = 0
local FIXED = {[0xcc]=1,[0xcd]=2,[0xce]=4,[0xcf]=8,[0xd0]=1,[0xd1]=2,[0xd2]=4,[0xd3]=8,[0xca]=4,[0xcb]=8,[0xd4]=2,[0xd5]=3,[0xd6]=5,[0xd7]=9,[0xd8]=17}
local LENW = {[0xc4]=1,[0xc5]=2,[0xc6]=4,[0xd9]=1,[0xda]=2,[0xdb]=4,[0xc7]=1,[0xc8]=2,[0xc9]=4}
local function be(s, p, n)
  local v = 0
  for i = 0, n - 1 do v = v * 256 + s:byte(p + i) end
  return v
end
local function skip(s, p, depth)
  walked = walked + 1
  if depth > 32 or p > #s or walked > WALK_MAX then return nil end
  local b = s:byte(p)
  if b <= 0x7f or b >= 0xe0 or b == 0xc0 or b == 0xc2 or b == 0xc3 then return p + 1 end
  if b >= 0xa0 and b <= 0xbf then return p + 1 + b - 0xa0 end
  local n, q
  if b >= 0x90 and b <= 0x9f then n, q = b - 0x90, p + 1
  elseif b >= 0x80 and b <= 0x8f then n, q = (b - 0x80) * 2, p + 1
  elseif b == 0xdc then n, q = be(s, p + 1, 2), p + 3
  elseif b == 0xdd then n, q = be(s, p + 1, 4), p + 5
  elseif b == 0xde then n, q = be(s, p + 1, 2) * 2, p + 3
  elseif b == 0xdf then n, q = be(s, p + 1, 4) * 2, p + 5
  else
    if FIXED[b] then return p + 1 + FIXED[b] end
    local lw = LENW[b]
    if not lw then return nil end
    local ext = (b >= 0xc7 and b <= 0xc9) and 1 or 0
    return p + 1 + lw + ext + be(s, p + 1, lw)
  end
  if n > #s then return nil end
  for i = 1, n do
    q = skip(s, q, depth + 1)
    if not q then return nil end
  end
  return q
end
-- An attempt count as the worker's decoder reads it: any non-negative
-- integer encoding, nil as 0.
local function attempts_of(f, p)
  local vb = f:byte(p)
  if vb <= 0x7f then return vb end
  if vb == 0xc0 then return 0 end
  local w = ({[0xcc]=1,[0xcd]=2,[0xce]=4,[0xcf]=8,[0xd0]=1,[0xd1]=2,[0xd2]=4,[0xd3]=8})[vb]
  if not w then return nil end
  local v = be(f, p + 1, w)
  if vb >= 0xd0 and v >= 2 ^ (8 * w - 1) then return nil end
  return v
end
-- The entries of frame f but attempt, error and failed_at, byte-exact, and
-- its attempt count; nil for a frame bump() cannot read.
local function entries(f)
  walked = 0
  local b, n, p = f:byte(1)
  if not b then return nil end
  if b >= 0x80 and b <= 0x8f then n, p = b - 0x80, 2
  elseif b == 0xde then n, p = be(f, 2, 2), 4
  elseif b == 0xdf then n, p = be(f, 2, 4), 6
  else return nil end
  local kept, attempt = {}, 0
  for i = 1, n do
    local ks = p
    local ke = skip(f, p, 1)
    if not ke then return nil end
    local ve = skip(f, ke, 1)
    if not ve then return nil end
    local kb, key = f:byte(ks), nil
    if kb >= 0xa0 and kb <= 0xbf then key = f:sub(ks + 1, ke - 1)
    elseif kb == 0xd9 then key = f:sub(ks + 2, ke - 1)
    elseif kb == 0xda then key = f:sub(ks + 3, ke - 1)
    elseif kb == 0xdb then key = f:sub(ks + 5, ke - 1) end
    if key == 'attempt' then
      attempt = attempts_of(f, ke)
      if not attempt then return nil end
    elseif key ~= 'error' and key ~= 'failed_at' then
      kept[#kept + 1] = f:sub(ks, ve - 1)
    end
    p = ve
  end
  if p ~= #f + 1 then return nil end
  return kept, attempt
end
local function maphdr(c)
  return c < 16 and string.char(0x80 + c) or c < 65536 and string.char(0xde, math.floor(c / 256), c % 256) or string.char(0xdf) .. u32(c)
end
local function bump(f, err, now)
  local kept, attempt = entries(f)
  if not kept then return nil end
  return maphdr(#kept + 3) .. table.concat(kept) .. str('attempt') .. uint(attempt + 1) .. str('error') .. str(err) .. str('failed_at') .. uint(now)
end
-- A retried dead frame starts again: attempt, error and failed_at gone.
local function fresh(f)
  local kept = entries(f)
  if not kept then return nil end
  return maphdr(#kept) .. table.concat(kept)
end
