/* Lua scripts (see scripts.h). Frames are only ever moved between lists by
 * LMOVE or by remove-then-push inside one script, so at every moment each
 * frame is in exactly one of pending, an active list, delayed or dead. */
#include "scripts.h"

/* TAKE: up to n frames from the right (oldest) end of pending to the left
 * of this worker's active list, oldest first, in three commands however
 * many frames: the script is atomic, so no frame is ever in neither list.
 * Returns them oldest first. The caller never asks for more than its free
 * slots, nor more than FETCH_BATCH_MAX (Lua's unpack limit). */
static const char take_lua[] =
    "local f = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1)\n"
    "if #f == 0 then return f end\n"
    "redis.call('LTRIM', KEYS[1], 0, -#f - 1)\n"
    "local out = {}\n"
    "for i = #f, 1, -1 do out[#out + 1] = f[i] end\n"
    "redis.call('LPUSH', KEYS[2], unpack(out))\n"
    "return out\n";

/* FINISH: a batch of n outcomes. KEYS: active pending delayed dead stats,
 * then n result keys, then n reply_to keys ('' for none). ARGV: events
 * channel, result TTL in ms, dead list length, then per outcome its kind
 * and the frame as taken, followed by what that kind needs:
 *   ok:    result record, event, notify frame ('' for none)
 *   retry: retry frame, due ms, event
 *   dead:  dead record, result record ('' when the job could not be read),
 *          event, notify frame
 *   skip:  nothing (a redelivered job whose result already said ok)
 * Fencing: an outcome whose frame is no longer in this worker's active list
 * (another worker recovered it) writes nothing and counts nothing. The
 * reply is one string with a character per outcome: '1' finished, '0'
 * fenced. A batch's frames are nearly always among the oldest of active,
 * at its right end (n + 32 frames from it for n outcomes): one LRANGE
 * reads that end, one LTRIM cuts it from the first frame of the batch on,
 * and one RPUSH puts back, in order, the frames after it that are not in
 * the batch. Only a frame beyond that end (and a batch of one) pays an
 * LREM, scanning from the right. So a job costs O(1), not a scan of everything
 * in flight, even when jobs finish out of take order.
 * The reply_to push is part of the script, so a fenced finish never
 * replies and a reply costs no extra round trip (see docs/protocol.md: the
 * contract has it follow the script, for Redis Cluster, which hiredis 0.14
 * cannot reach anyway). Events go out only when someone listens: a message
 * without subscribers reaches nobody, and PUBLISH is a third of the
 * per-job work here. */
static const char finish_lua[] =
    "local n = (#KEYS - 5) / 2\n"
    "local ttl = ARGV[2]\n"
    "local listened = redis.call('PUBSUB', 'NUMSUB', ARGV[1])[2] > 0\n"
    "local ok, failed, retried, dead = 0, 0, 0, 0\n"
    "local done = {}\n"
    "local a = 4\n"
    "local function finish(i, rec, event, notify)\n"
    "  if rec ~= '' then\n"
    "    redis.call('SET', KEYS[5 + i], rec, 'PX', ttl)\n"
    "    local reply = KEYS[5 + n + i]\n"
    "    if reply ~= '' then\n"
    "      redis.call('RPUSH', reply, rec)\n"
    "      redis.call('PEXPIRE', reply, ttl)\n"
    "    end\n"
    "  end\n"
    "  if notify and notify ~= '' then redis.call('LPUSH', KEYS[2], notify) end\n"
    "  if listened then redis.call('PUBLISH', ARGV[1], event) end\n"
    "end\n"
    "local trimmed = {}\n"
    "if n > 1 then\n"
    "  local want, b = {}, 4\n"
    "  for i = 1, n do\n"
    "    local f = ARGV[b + 1]\n"
    "    want[f] = (want[f] or 0) + 1\n"
    "    local kind = ARGV[b]\n"
    "    b = b + (kind == 'dead' and 6 or (kind == 'skip' and 2 or 5))\n"
    "  end\n"
    "  local tail, first, keep = redis.call('LRANGE', KEYS[1], -n - 32, -1), nil, {}\n"
    "  for j = 1, #tail do\n"
    "    local f = tail[j]\n"
    "    local c = want[f]\n"
    "    if c and c > 0 then\n"
    "      want[f] = c - 1\n"
    "      trimmed[f] = (trimmed[f] or 0) + 1\n"
    "      first = first or j\n"
    "    elseif first then\n"
    "      keep[#keep + 1] = f\n"
    "    end\n"
    "  end\n"
    "  if first then\n"
    "    redis.call('LTRIM', KEYS[1], 0, first - #tail - 2)\n"
    "    if #keep > 0 then redis.call('RPUSH', KEYS[1], unpack(keep)) end\n"
    "  end\n"
    "end\n"
    "for i = 1, n do\n"
    "  local kind = ARGV[a]\n"
    "  local f = ARGV[a + 1]\n"
    "  local present\n"
    "  local t = trimmed[f]\n"
    "  if t and t > 0 then\n"
    "    trimmed[f] = t - 1\n"
    "    present = true\n"
    "  else\n"
    "    present = redis.call('LREM', KEYS[1], '-1', f) == 1\n"
    "  end\n"
    "  done[i] = present and '1' or '0'\n"
    "  if kind == 'ok' then\n"
    "    if present then\n"
    "      ok = ok + 1\n"
    "      finish(i, ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])\n"
    "    end\n"
    "    a = a + 5\n"
    "  elseif kind == 'retry' then\n"
    "    if present then\n"
    "      failed = failed + 1; retried = retried + 1\n"
    "      redis.call('ZADD', KEYS[3], ARGV[a + 3], ARGV[a + 2])\n"
    "      finish(i, '', ARGV[a + 4], nil)\n"
    "    end\n"
    "    a = a + 5\n"
    "  elseif kind == 'dead' then\n"
    "    if present then\n"
    "      failed = failed + 1; dead = dead + 1\n"
    "      redis.call('LPUSH', KEYS[4], ARGV[a + 2])\n"
    "      finish(i, ARGV[a + 3], ARGV[a + 4], ARGV[a + 5])\n"
    "    end\n"
    "    a = a + 6\n"
    "  else\n"
    "    a = a + 2\n"
    "  end\n"
    "end\n"
    "if dead > 0 then redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[3]) - 1) end\n"
    "if ok > 0 then redis.call('HINCRBY', KEYS[5], 'processed', ok) end\n"
    "if failed > 0 then redis.call('HINCRBY', KEYS[5], 'failed', failed) end\n"
    "if retried > 0 then redis.call('HINCRBY', KEYS[5], 'retried', retried) end\n"
    "if dead > 0 then redis.call('HINCRBY', KEYS[5], 'dead', dead) end\n"
    "return table.concat(done)\n";

/* PROMOTE: due frames from delayed to the left of pending, earliest due
 * nearest the right so they run first among themselves. Returns the count
 * moved and the next due time (-1: none) so the caller can sleep exactly
 * until then. */
static const char promote_lua[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],"
    " 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "if #due > 0 then\n"
    "  redis.call('ZREM', KEYS[1], unpack(due))\n"
    "  redis.call('LPUSH', KEYS[2], unpack(due))\n"
    "end\n"
    "local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "return {#due, nxt[2] or '-1'}\n";

/* RECOVER: the active lists of workers whose heartbeat deadline passed go
 * back to the right of pending (oldest rightmost: they run next), and each
 * frame's attempt is raised by one with error 'worker lost', so a job that
 * kills its worker cannot take every replica down in turn. The frame is
 * rewritten at the byte level: Redis' cmsgpack cannot read bin, and every
 * other entry (the signed job bytes, kid, mac, unknown keys) must stay
 * byte-exact. A frame that cannot be read goes back unchanged; the worker
 * that takes it will dead-letter it. Each recovered frame counts as a
 * failed and retried attempt in stats (KEYS[3]). */
static const char recover_lua[] =
    "local FIXED = {[0xcc]=1,[0xcd]=2,[0xce]=4,[0xcf]=8,[0xd0]=1,[0xd1]=2,"
    "[0xd2]=4,[0xd3]=8,[0xca]=4,[0xcb]=8,[0xd4]=2,[0xd5]=3,[0xd6]=5,[0xd7]=9,"
    "[0xd8]=17}\n"
    "local LENW = {[0xc4]=1,[0xc5]=2,[0xc6]=4,[0xd9]=1,[0xda]=2,[0xdb]=4,"
    "[0xc7]=1,[0xc8]=2,[0xc9]=4}\n"
    "local function be(s, p, n)\n"
    "  local v = 0\n"
    "  for i = 0, n - 1 do v = v * 256 + s:byte(p + i) end\n"
    "  return v\n"
    "end\n"
    "local function skip(s, p, depth)\n"
    "  if depth > 32 or p > #s then return nil end\n"
    "  local b = s:byte(p)\n"
    "  if b <= 0x7f or b >= 0xe0 or b == 0xc0 or b == 0xc2 or b == 0xc3 then return p + 1 end\n"
    "  if b >= 0xa0 and b <= 0xbf then return p + 1 + b - 0xa0 end\n"
    "  local n, q\n"
    "  if b >= 0x90 and b <= 0x9f then n, q = b - 0x90, p + 1\n"
    "  elseif b >= 0x80 and b <= 0x8f then n, q = (b - 0x80) * 2, p + 1\n"
    "  elseif b == 0xdc then n, q = be(s, p + 1, 2), p + 3\n"
    "  elseif b == 0xdd then n, q = be(s, p + 1, 4), p + 5\n"
    "  elseif b == 0xde then n, q = be(s, p + 1, 2) * 2, p + 3\n"
    "  elseif b == 0xdf then n, q = be(s, p + 1, 4) * 2, p + 5\n"
    "  else\n"
    "    if FIXED[b] then return p + 1 + FIXED[b] end\n"
    "    local lw = LENW[b]\n"
    "    if not lw then return nil end\n"
    "    local ext = (b >= 0xc7 and b <= 0xc9) and 1 or 0\n"
    "    return p + 1 + lw + ext + be(s, p + 1, lw)\n"
    "  end\n"
    "  if n > #s then return nil end\n"
    "  for i = 1, n do\n"
    "    q = skip(s, q, depth + 1)\n"
    "    if not q then return nil end\n"
    "  end\n"
    "  return q\n"
    "end\n"
    "local function u32(x)\n"
    "  return string.char(math.floor(x / 16777216) % 256, math.floor(x / 65536) % 256,"
    " math.floor(x / 256) % 256, x % 256)\n"
    "end\n"
    "local function str(s)\n"
    "  local n = #s\n"
    "  if n < 32 then return string.char(0xa0 + n) .. s end\n"
    "  if n < 256 then return string.char(0xd9, n) .. s end\n"
    "  return string.char(0xdb) .. u32(n) .. s\n"
    "end\n"
    "local function uint(x)\n"
    "  if x < 128 then return string.char(x) end\n"
    "  if x < 4294967296 then return string.char(0xce) .. u32(x) end\n"
    "  return string.char(0xcf) .. u32(math.floor(x / 4294967296)) .. u32(x % 4294967296)\n"
    "end\n"
    "local function bump(f, err, now)\n"
    "  local b, n, p = f:byte(1)\n"
    "  if b >= 0x80 and b <= 0x8f then n, p = b - 0x80, 2\n"
    "  elseif b == 0xde then n, p = be(f, 2, 2), 4\n"
    "  elseif b == 0xdf then n, p = be(f, 2, 4), 6\n"
    "  else return nil end\n"
    "  local kept, attempt = {}, 0\n"
    "  for i = 1, n do\n"
    "    local ks = p\n"
    "    local ke = skip(f, p, 1)\n"
    "    if not ke then return nil end\n"
    "    local ve = skip(f, ke, 1)\n"
    "    if not ve then return nil end\n"
    "    local kb, key = f:byte(ks), nil\n"
    "    if kb >= 0xa0 and kb <= 0xbf then key = f:sub(ks + 1, ke - 1)\n"
    "    elseif kb == 0xd9 then key = f:sub(ks + 2, ke - 1) end\n"
    "    if key == 'attempt' then\n"
    "      local vb = f:byte(ke)\n"
    "      if vb <= 0x7f then attempt = vb\n"
    "      elseif vb == 0xcc then attempt = be(f, ke + 1, 1)\n"
    "      elseif vb == 0xcd then attempt = be(f, ke + 1, 2)\n"
    "      elseif vb == 0xce then attempt = be(f, ke + 1, 4)\n"
    "      elseif vb == 0xcf then attempt = be(f, ke + 1, 8)\n"
    "      else return nil end\n"
    "    elseif key ~= 'error' and key ~= 'failed_at' then\n"
    "      kept[#kept + 1] = f:sub(ks, ve - 1)\n"
    "    end\n"
    "    p = ve\n"
    "  end\n"
    "  if p ~= #f + 1 then return nil end\n"
    "  local count = #kept + 3\n"
    "  local hdr = count < 16 and string.char(0x80 + count) or"
    " string.char(0xde, math.floor(count / 256), count % 256)\n"
    "  return hdr .. table.concat(kept) .. str('attempt') .. uint(attempt + 1) .."
    " str('error') .. str(err) .. str('failed_at') .. uint(now)\n"
    "end\n"
    "local now = tonumber(ARGV[1])\n"
    "local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1],"
    " 'LIMIT', 0, 16)\n"
    "local moved = 0\n"
    "for _, w in ipairs(lapsed) do\n"
    "  if w ~= ARGV[3] then\n"
    "    local ak = ARGV[2] .. w\n"
    "    while true do\n"
    "      local f = redis.call('LPOP', ak)\n"
    "      if not f then break end\n"
    "      local ok, nf = pcall(bump, f, 'worker lost', now)\n"
    "      redis.call('RPUSH', KEYS[2], (ok and nf) or f)\n"
    "      moved = moved + 1\n"
    "    end\n"
    "    redis.call('ZREM', KEYS[1], w)\n"
    "  end\n"
    "end\n"
    "if moved > 0 then\n"
    "  redis.call('HINCRBY', KEYS[3], 'failed', moved)\n"
    "  redis.call('HINCRBY', KEYS[3], 'retried', moved)\n"
    "end\n"
    "return moved\n";

/* REQUEUE: everything left in this worker's active list back to the right
 * of pending at shutdown, oldest rightmost, so those jobs run next. */
static const char requeue_lua[] =
    "local n = 0\n"
    "while redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do n = n + 1 end\n"
    "return n\n";

/* ORPHANS: after a dropped connection a take may have moved frames whose
 * reply never arrived. Every frame in this worker's active list that the
 * worker does not hold (ARGV) goes back to the right of pending, so nothing
 * is stranded in the list of a live worker. Duplicates are counted. */
static const char orphans_lua[] =
    "local held = {}\n"
    "for i = 1, #ARGV do held[ARGV[i]] = (held[ARGV[i]] or 0) + 1 end\n"
    "local all = redis.call('LRANGE', KEYS[1], 0, -1)\n"
    "local n = 0\n"
    "for i = 1, #all do\n"
    "  local f = all[i]\n"
    "  if (held[f] or 0) > 0 then held[f] = held[f] - 1\n"
    "  else\n"
    "    redis.call('LREM', KEYS[1], 1, f)\n"
    "    redis.call('RPUSH', KEYS[2], f)\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n";

static const char *const bodies[SCRIPT__COUNT] = {
    take_lua, finish_lua, promote_lua, recover_lua, requeue_lua, orphans_lua,
};
static const char *const names[SCRIPT__COUNT] = {
    "take", "finish", "promote", "recover", "requeue", "orphans",
};

const char *script_body(enum script_id id)
{
    return bodies[id];
}

const char *script_name(enum script_id id)
{
    return names[id];
}
