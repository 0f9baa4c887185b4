/* The Lua scripts that move frames between a queue's keys. Each runs
 * atomically in Redis; the comment above each body in scripts.c says what
 * it guarantees. All keys of a call share one {Q} hash tag. */
#ifndef JOBQ_SCRIPTS_H
#define JOBQ_SCRIPTS_H

enum script_id {
    /* Each script's keys and arguments are listed at the top of its file
     * in common/scripts/. */
    SCRIPT_TAKE,
    SCRIPT_SETASIDE,
    SCRIPT_FINISH,
    SCRIPT_PROMOTE,
    SCRIPT_BEAT,
    SCRIPT_REQUEUE,
    SCRIPT_ORPHANS,
    SCRIPT_SWEEP, /* KEYS active pending; ARGV frames held */
    SCRIPT_PICK,  /* KEYS pending active paused; ARGV want scan max budget types
                   */

    SCRIPT_PUBLISH,   /* KEYS published; ARGV channel message ttl_ms */
    SCRIPT_SAMPLE,    /* the operator's view of one queue */
    SCRIPT_DEADRETRY, /* dead records back to pending */
    SCRIPT_PURGE,     /* one of a queue's keys deleted, counted */
    SCRIPT_DEADLIST,  /* the newest dead records, oversized ones by length */
    SCRIPT__COUNT
};

/* Most ARGV fields one outcome of SCRIPT_FINISH takes (a dead one), and
 * the keys before the per-outcome ones. */
#define FINISH_FIELDS_MAX 6
#define FINISH_FIXED_KEYS 5

const char *script_body(enum script_id id);
const char *script_name(enum script_id id);
#endif
