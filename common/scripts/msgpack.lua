-- Byte-level msgpack writers: Redis' cmsgpack cannot write bin, and the
-- records built here must match the ones the worker builds.
local function u32(x)
  return string.char(math.floor(x / 16777216) % 256, math.floor(x / 65536) % 256, math.floor(x / 256) % 256, x % 256)
end
local function str(s)
  local n = #s
  if n < 32 then return string.char(0xa0 + n) .. s end
  if n < 256 then return string.char(0xd9, n) .. s end
  return string.char(0xdb) .. u32(n) .. s
end
local function uint(x)
  if x < 128 then return string.char(x) end
  if x < 4294967296 then return string.char(0xce) .. u32(x) end
  return string.char(0xcf) .. u32(math.floor(x / 4294967296)) .. u32(x % 4294967296)
end
local function bin(s)
  return string.char(0xc6) .. u32(#s) .. s
end
-- A dead record for a frame the worker will never hold (protocol.md).
local function deadrec(x, err, now, w)
  return string.char(0x84) .. str('frame') .. bin(x) .. str('error') .. str(err) .. str('at') .. uint(now) .. str('worker') .. str(w)
end
-- After pushing n dead records: the list trimmed to its length, and the
-- deaths counted as failed attempts that ended dead.
local function dead_pushed(dead, deadmax, stats, n)
  if n == 0 then return end
  redis.call('LTRIM', dead, 0, tonumber(deadmax) - 1)
  count(stats, 'failed', n)
  count(stats, 'dead', n)
end
local function toobig(x, max, now, w)
  return deadrec(x, 'frame too large (' .. #x .. ' bytes, limit ' .. max .. ')', now, w)
end
