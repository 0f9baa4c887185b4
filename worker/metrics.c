/* Metrics (see metrics.h). Every family gets # HELP and # TYPE; labelled
 * families list a series per label set even at zero, so a rate() over a
 * fresh worker starts from a sample. */
#include "metrics.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "finish.h"
#include "looplag.h"
#include "redis.h"
#include "sampler.h"
#include "stats.h"
#include "utf8.h"
#include "xalloc.h"

static void family(struct evbuffer *b, const char *name, const char *type,
                   const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                        type);
}

static void metric(struct evbuffer *b, const char *name, const char *type,
                   const char *help, unsigned long long v)
{
    family(b, name, type, help);
    evbuffer_add_printf(b, "%s %llu\n", name, v);
}

/* A label value as the text format wants it: \, " and newline escaped;
 * other control bytes, and bytes of a job type that is not UTF-8, as '?'
 * (a producer's string must not break the scrape). */
static void label(struct evbuffer *b, const char *v)
{
    size_t n = strlen(v);
    bool utf8 = utf8_valid(v, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '\\' || c == '"')
            evbuffer_add_printf(b, "\\%c", c);
        else if (c == '\n')
            evbuffer_add(b, "\\n", 2);
        else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
            evbuffer_add(b, "?", 1);
        else
            evbuffer_add(b, &v[i], 1);
    }
}

/* One histogram's series; labels: the label text before le, e.g.
 * queue="q",type="t", (with the trailing comma) or "". */
static void histogram(struct evbuffer *b, const char *name, const char *labels,
                      const struct histo *h, const double *bounds, int nb)
{
    uint64_t cum = 0;
    for (int i = 0; i < nb; i++) {
        cum += h->le[i];
        evbuffer_add_printf(b, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels,
                            bounds[i], (unsigned long long)cum);
    }
    evbuffer_add_printf(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
                        (unsigned long long)h->count);
    size_t ln = strlen(labels);
    /* labels without the trailing comma for _sum and _count */
    evbuffer_add_printf(b, "%s_sum{%.*s} %.9g\n%s_count{%.*s} %llu\n", name,
                        (int)(ln ? ln - 1 : 0), labels, h->sum, name,
                        (int)(ln ? ln - 1 : 0), labels,
                        (unsigned long long)h->count);
}

/* queue="Q",type="T", (the type escaped), to free. */
static char *type_labels(const char *queue, const char *type)
{
    struct evbuffer *t = evbuffer_new();
    evbuffer_add_printf(t, "queue=\"%s\",type=\"", queue);
    label(t, type);
    evbuffer_add(t, "\",", 3); /* with the string's NUL */
    size_t n = evbuffer_get_length(t);
    char *out = xmalloc(n);
    evbuffer_remove(t, out, n);
    evbuffer_free(t);
    return out;
}

static void jobs(struct evbuffer *b, struct worker *w)
{
    family(b, "jobq_jobs_total", "counter",
           "Jobs this worker finished, by queue, job type and outcome (ok, "
           "retry, dead, late); at most 64 types per queue, the rest as "
           "type \"other\".");
    for (int qi = 0; qi < w->nq; qi++) {
        const struct stats_row *rows;
        unsigned n = stats_rows(w->stats, qi, &rows);
        for (unsigned i = 0; i < n; i++) {
            char *l = type_labels(w->q[qi].name, rows[i].type);
            for (int o = 0; o < STATS__N; o++)
                evbuffer_add_printf(
                    b, "jobq_jobs_total{%soutcome=\"%s\"} %llu\n", l,
                    stats_outcome_name(o), (unsigned long long)rows[i].n[o]);
            free(l);
        }
    }
    family(b, "jobq_job_duration_seconds", "histogram",
           "Handler time of the attempts this worker ran, by queue and job "
           "type.");
    for (int qi = 0; qi < w->nq; qi++) {
        const struct stats_row *rows;
        unsigned n = stats_rows(w->stats, qi, &rows);
        for (unsigned i = 0; i < n; i++) {
            char *l = type_labels(w->q[qi].name, rows[i].type);
            histogram(b, "jobq_job_duration_seconds", l, &rows[i].duration,
                      stats_duration_bounds, stats_duration_nbounds);
            free(l);
        }
    }
}

static void queues(struct evbuffer *b, struct worker *w)
{
    static const char *const states[] = {"pending", "delayed", "active",
                                         "dead"};
    family(b, "jobq_queue_depth", "gauge",
           "Frames in each state of a queue, sampled from Redis at most "
           "once a second.");
    for (int qi = 0; qi < w->nq; qi++) {
        const struct sampler_queue *q = sampler_queue(w->sampler, qi);
        uint64_t v[4] = {q->pending, q->delayed, q->active, q->dead};
        for (int s = 0; s < 4; s++)
            evbuffer_add_printf(b,
                                "jobq_queue_depth{queue=\"%s\",state=\"%s\"} "
                                "%llu\n",
                                w->q[qi].name, states[s],
                                (unsigned long long)v[s]);
    }
    family(b, "jobq_queue_oldest_age_seconds", "gauge",
           "Age of the oldest pending job (from its created_at, else from "
           "when a sample first saw it); 0 when pending is empty.");
    for (int qi = 0; qi < w->nq; qi++) {
        const struct sampler_queue *q = sampler_queue(w->sampler, qi);
        evbuffer_add_printf(
            b, "jobq_queue_oldest_age_seconds{queue=\"%s\"} %.3f\n",
            w->q[qi].name,
            q->oldest_age_ms > 0 ? q->oldest_age_ms / 1000.0 : 0.0);
    }
    family(b, "jobq_queue_paused", "gauge",
           "1 while the queue's paused key exists (no worker takes from it).");
    for (int qi = 0; qi < w->nq; qi++)
        evbuffer_add_printf(b, "jobq_queue_paused{queue=\"%s\"} %d\n",
                            w->q[qi].name,
                            sampler_queue(w->sampler, qi)->paused ? 1 : 0);
}

static void load(struct evbuffer *b, struct worker *w)
{
    struct dispatch_load l;
    dispatch_load(w->dispatch, &l);
    family(b, "jobq_inflight", "gauge",
           "Jobs this worker holds, by class: cpu (staged or on the pool), "
           "io (running on the loop).");
    evbuffer_add_printf(b, "jobq_inflight{class=\"cpu\"} %u\n", l.cpu_inflight);
    evbuffer_add_printf(b, "jobq_inflight{class=\"io\"} %u\n", l.io_inflight);
    metric(b, "jobq_cpu_threads_busy", "gauge",
           "CPU pool threads running a handler now.", l.cpu_busy);
    metric(b, "jobq_cpu_threads", "gauge", "CPU pool threads.",
           w->s->cpu_threads);
    family(b, "jobq_loop_lag_seconds", "histogram",
           "How late the event loop's 100 ms watchdog timer ran: the length "
           "of turns that held the loop.");
    histogram(b, "jobq_loop_lag_seconds", "", looplag_histo(w->lag),
              looplag_bounds, looplag_nbounds);
    metric(b, "jobq_loop_lag_warnings_total", "counter",
           "Loop turns longer than loop-lag-warn-ms (each logged).",
           looplag_warnings(w->lag));
}

/* The unlabelled per-process series served before the labelled ones;
 * kept, since names are a contract. */
static void legacy(struct evbuffer *b, struct worker *w)
{
    struct finish_counts n;
    finish_counts(w->finish, &n);
    struct dispatch_load l;
    dispatch_load(w->dispatch, &l);
    metric(b, "jobq_jobs_ok_total", "counter",
           "Jobs finished ok by this worker.", n.ok);
    metric(b, "jobq_jobs_retried_total", "counter",
           "Failed attempts scheduled again.", n.retry);
    metric(b, "jobq_jobs_dead_total", "counter",
           "Jobs that became dead records.", n.dead);
    metric(b, "jobq_jobs_late_total", "counter",
           "Finishes fenced because another worker recovered the job.", n.late);
    metric(b, "jobq_jobs_skipped_total", "counter",
           "Redelivered jobs whose result already said ok.", n.skip);
    metric(b, "jobq_result_checks_total", "counter",
           "Result lookups before running a redelivered job again.",
           dispatch_rechecks(w->dispatch));
    metric(b, "jobq_cpu_inflight", "gauge",
           "CPU jobs taken and not yet answered.", l.cpu_inflight);
    metric(b, "jobq_io_inflight", "gauge", "IO jobs running on the loop.",
           l.io_inflight);
    metric(b, "jobq_cpu_window", "gauge",
           "CPU jobs this worker takes ahead (adaptive).", l.cpu_slots);
    metric(b, "jobq_finish_backlog", "gauge",
           "Outcomes not yet acknowledged by Redis.", finish_held(w->finish));
    metric(b, "jobq_stopping", "gauge", "1 after SIGTERM or SIGINT.",
           w->stopping);
}

struct render {
    struct worker *w;
    surface_done_fn done;
    void *arg;
};

static void on_sampled(void *arg)
{
    struct render *r = arg;
    struct worker *w = r->w;
    struct evbuffer *b = evbuffer_new();
    jobs(b, w);
    queues(b, w);
    load(b, w);
    metric(b, "jobq_redis_up", "gauge", "1 when every Redis connection is up.",
           redis_ready(w->redis));
    metric(b, "jobq_redis_reconnects_total", "counter",
           "Redis connections dropped and opened again.",
           redis_reconnects(w->redis));
    family(b, "jobq_build_info", "gauge",
           "Always 1, labelled with the worker's version.");
    evbuffer_add_printf(b, "jobq_build_info{version=\"%s\"} 1\n", JOBQ_VERSION);
    legacy(b, w);
    r->done(r->arg, 200, "text/plain; version=0.0.4", b);
    evbuffer_free(b);
    free(r);
}

void metrics_render(struct worker *w, surface_done_fn done, void *arg)
{
    struct render *r = xmalloc(sizeof(*r));
    *r = (struct render){w, done, arg};
    sampler_want(w->sampler, on_sampled, r);
}
