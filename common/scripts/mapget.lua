-- Reading the fields of a msgpack map by bump.lua's bounded walk (Redis'
-- cmsgpack cannot read bin, which frames and records carry). entries(s, on)
-- calls on(key_pos, value_pos) for each entry of the map that is all of s
-- and returns true, or nil when s is not exactly one map (depth at most 32,
-- at most WALK_MAX items). mapget(s, name) returns the bytes of the str or
-- bin value, or the number of a non-negative integer, of the last entry
-- called name; nil when s is not one map or has no such entry. Both raise
-- on some truncated input (be() reads past the end): callers pcall them.
local function mapval(s, p)
  local b = s:byte(p)
  if b >= 0xa0 and b <= 0xbf then return s:sub(p + 1, p + b - 0xa0) end
  local lw = ({[0xd9]=1,[0xda]=2,[0xdb]=4,[0xc4]=1,[0xc5]=2,[0xc6]=4})[b]
  if lw then return s:sub(p + 1 + lw, p + lw + be(s, p + 1, lw)) end
  return attempts_of(s, p)
end
local function entries(s, on)
  walked = 0
  local b, n, p = s:byte(1)
  if not b then return nil end
  if b >= 0x80 and b <= 0x8f then n, p = b - 0x80, 2
  elseif b == 0xde then n, p = be(s, 2, 2), 4
  elseif b == 0xdf then n, p = be(s, 2, 4), 6
  else return nil end
  for _ = 1, n do
    local ke = skip(s, p, 1)
    if not ke then return nil end
    local ve = skip(s, ke, 1)
    if not ve then return nil end
    on(p, ke)
    p = ve
  end
  return p == #s + 1 or nil
end
local function mapget(s, name)
  local found = nil
  if not entries(s, function(kp, vp)
    if mapval(s, kp) == name then found = vp end
  end) or not found then return nil end
  return mapval(s, found)
end
