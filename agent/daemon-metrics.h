/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's metrics for Prometheus, published the way node-local daemons
 * without a listening socket publish theirs: a file in node_exporter's
 * textfile directory (METRICS_FILE), which its textfile collector serves
 * with the node's own metrics. The daemon keeps the counters here and
 * writes the file after each pass and each rollout transition, never on a
 * timer (an idle daemon wakes for nothing), atomically (a temporary file in
 * the same directory, fsync, rename: node_exporter never reads half a
 * file). The last file a daemon writes as it stops says so
 * (nap_agent_state_lock_held 0), so the alert on stale metrics
 * (prometheus/nap-agent.rules.yml) fires only for a daemon that stopped
 * writing while it runs. Names follow Prometheus' conventions (nap_agent_,
 * base units, _total counters, _seconds); nap-agent(8), METRICS, lists them.
 * Labels hold kinds, workload names, verbs and states: never a secret.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube.h"
#include "rollout.h"
#include "util/macro.h"

#define METRICS_FILE "nap-agent.prom"

typedef enum MetricsPassResult {
        METRICS_PASS_SUCCESS,
        METRICS_PASS_FAILURE, /* an API server or database error: retried */
        METRICS_PASS_REFUSED, /* values.env could not be used: nothing applied */
        _METRICS_PASS_RESULT_MAX,
} MetricsPassResult;

/* What one pass ended with. */
typedef struct MetricsPass {
        MetricsPassResult result;
        uint64_t end_usec;             /* wall clock (now_realtime_usec()) */
        uint64_t duration_usec;
        uint64_t generation;           /* the ledger's, after the pass */
        unsigned drift_repairs;        /* objects and rows a resync wrote back */
        unsigned pending_changes;      /* writes the pass planned and did not complete */
        unsigned clients_registered;   /* oauth_clients rows of modules that are on */
        unsigned clients_kept;         /* rows of modules turned off (the row stays) */
} MetricsPass;

/* A workload the agent applied, as the daemon follows it. */
typedef struct MetricsWorkload {
        const char *kind; /* Deployment, DaemonSet */
        const char *name;
        RolloutHealth health;
        uint64_t since_usec; /* wall clock: when it entered that health; 0: unknown */
} MetricsWorkload;

/* What the daemon hands over at the moment of writing (borrowed). */
typedef struct MetricsSnapshot {
        const MetricsWorkload *workloads;
        size_t n_workloads;
        const KubeRequests *requests; /* every client's counts so far; NULL: none yet */
        bool running;                 /* false: the last file of a daemon that stops */
} MetricsSnapshot;

typedef struct Metrics Metrics;

/* dir: where METRICS_FILE goes; NULL: nowhere (the counters are kept,
 * metrics_write() does nothing). start_usec: when the daemon started (wall
 * clock); resync_usec: its resync period (0: none). */
int metrics_new(const char *dir, uint64_t start_usec, uint64_t resync_usec, Metrics **ret);
Metrics *metrics_free(Metrics *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Metrics *, metrics_free);

/* The file written, or NULL. */
const char *metrics_path(const Metrics *m);
/* Counts a pass and keeps what it ended with. */
void metrics_pass_done(Metrics *m, const MetricsPass *p);
/* The file's text in the exposition format (malloc'ed). */
int metrics_format(const Metrics *m, const MetricsSnapshot *s, char **ret);
/* Replaces the file atomically. Metrics never stop the daemon: a failure
 * is returned and logged once as a warning (again only when the error
 * changes), else at debug. */
int metrics_write(Metrics *m, const MetricsSnapshot *s);

/* node_exporter's textfile directory (NAP_METRICS_DIR, that of Debian's
 * prometheus-node-exporter) when it exists, else NULL: the daemon's
 * default. */
const char *metrics_default_dir(void);
