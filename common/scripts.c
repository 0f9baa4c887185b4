/* The Lua scripts (see scripts.h), kept as .lua files in common/scripts/
 * and embedded at build time. Frames are only ever moved between lists by
 * LMOVE or by remove-then-push inside one script, after every key has been
 * type-checked, so at every moment each frame is in exactly one of
 * pending, an active list, delayed or dead. What each script guarantees is
 * written at the top of its .lua file. */
#include "scripts.h"

#include "lua_scripts.h"

static const char *const bodies[SCRIPT__COUNT] = {
    [SCRIPT_TAKE] = LUA_PRELUDE LUA_MSGPACK LUA_TAKE,
    [SCRIPT_SETASIDE] = LUA_PRELUDE LUA_MSGPACK LUA_SETASIDE,
    [SCRIPT_FINISH] = LUA_PRELUDE LUA_FINISH,
    [SCRIPT_PROMOTE] = LUA_PRELUDE LUA_PROMOTE,
    [SCRIPT_BEAT] = LUA_PRELUDE LUA_MSGPACK LUA_BUMP LUA_BEAT,
    [SCRIPT_REQUEUE] = LUA_PRELUDE LUA_REQUEUE,
    [SCRIPT_ORPHANS] = LUA_PRELUDE LUA_ORPHANS,
    [SCRIPT_SWEEP] = LUA_PRELUDE LUA_SWEEP,
    [SCRIPT_PICK] = LUA_PRELUDE LUA_MSGPACK LUA_BUMP LUA_MAPGET LUA_PICK,
    [SCRIPT_PUBLISH] = LUA_PRELUDE LUA_PUBLISH,
    [SCRIPT_SAMPLE] = LUA_PRELUDE LUA_MSGPACK LUA_BUMP LUA_MAPGET LUA_SAMPLE,
    [SCRIPT_DEADRETRY] =
        LUA_PRELUDE LUA_MSGPACK LUA_BUMP LUA_MAPGET LUA_DEADRETRY,
    [SCRIPT_PURGE] = LUA_PURGE,
    [SCRIPT_DEADLIST] = LUA_PRELUDE LUA_DEADLIST,
};
static const char *const names[SCRIPT__COUNT] = {
    [SCRIPT_TAKE] = "take",       [SCRIPT_SETASIDE] = "setaside",
    [SCRIPT_FINISH] = "finish",   [SCRIPT_PROMOTE] = "promote",
    [SCRIPT_BEAT] = "beat",       [SCRIPT_REQUEUE] = "requeue",
    [SCRIPT_ORPHANS] = "orphans", [SCRIPT_SWEEP] = "sweep",
    [SCRIPT_PICK] = "pick",       [SCRIPT_PUBLISH] = "publish",
    [SCRIPT_SAMPLE] = "sample",   [SCRIPT_DEADRETRY] = "deadretry",
    [SCRIPT_PURGE] = "purge",     [SCRIPT_DEADLIST] = "deadlist",
};

const char *script_body(enum script_id id)
{
    return bodies[id];
}

const char *script_name(enum script_id id)
{
    return names[id];
}
