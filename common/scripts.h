/* The Lua scripts that move frames between a queue's keys. Each runs
 * atomically in Redis; the comment above each body in scripts.c says what
 * it guarantees. All keys of a call share one {Q} hash tag. */
#ifndef JOBQ_SCRIPTS_H
#define JOBQ_SCRIPTS_H

enum script_id {
    SCRIPT_TAKE, /* KEYS pending active dead stats; ARGV n max self deadmax */
    SCRIPT_SETASIDE, /* KEYS active dead stats; ARGV max self deadmax */
    SCRIPT_FINISH,   /* see common/scripts/finish.lua */
    SCRIPT_PROMOTE,  /* KEYS delayed pending; ARGV now limit */
    SCRIPT_BEAT,     /* KEYS workers pending stats clock; ARGV self ttl prefix
                        recover */
    SCRIPT_REQUEUE,  /* KEYS active pending */
    SCRIPT_ORPHANS,  /* KEYS active pending; ARGV frames held */
    SCRIPT__COUNT
};

/* Most ARGV fields one outcome of SCRIPT_FINISH takes (a dead one), and
 * the keys before the per-outcome ones. */
#define FINISH_FIELDS_MAX 6
#define FINISH_FIXED_KEYS 5

const char *script_body(enum script_id id);
const char *script_name(enum script_id id);
#endif
