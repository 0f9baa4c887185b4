/* The records a worker writes (protocol.md, Records): the result record,
 * the dead record, the event record and the notify job that carries a
 * result record to a webhook. Encoding only; the finishing script writes
 * them. */
#ifndef JOBQ_RECORD_H
#define JOBQ_RECORD_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "frame.h"

/* The job type a notify job has (served by the webhook.post handler). */
#define RECORD_NOTIFY_TYPE "webhook.post"

/* Result record: status "ok" with result (msgpack bytes of one value), or
 * "dead" with err. */
void record_result(msgpack_sbuffer *sb, const struct job *job,
                   const char *queue, bool ok, const char *result,
                   size_t result_len, const char *err, unsigned attempts,
                   uint64_t now, const char *worker);

/* Event record; job NULL for a frame that never decoded. err is written
 * for every status but "ok". */
void record_event(msgpack_sbuffer *sb, const struct job *job,
                  const char *status, unsigned attempt, uint64_t now,
                  const char *err);

/* Dead record: the frame's bytes as taken, and the job's id and type when
 * it decoded (job NULL otherwise). */
void record_dead(msgpack_sbuffer *sb, const char *raw, size_t rawlen,
                 const struct job *job, const char *err, uint64_t now,
                 const char *worker);

/* The job map of a notify job carrying the result record rec to
 * job->notify. Its id derives from the job's, so a redelivered completion
 * names the same notification. The caller frames (and signs) it. */
void record_notify_job(msgpack_sbuffer *sb, const struct job *job,
                       const char *rec, size_t rec_len, uint64_t now);
#endif
