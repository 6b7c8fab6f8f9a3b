/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's private header: what daemon.c uses of the other files of
 * the daemon group.
 *
 * ---- values.env, followed with inotify (daemon-values.c) ----
 *
 * Following values.env with inotify, for the daemon, so that every edit is
 * seen however the file is reached and however it is written, without
 * polling. The path is resolved component by component, and watched are:
 *
 *   - every component that is, or was, a symlink, by name in its parent
 *     directory: re-pointing a symlinked directory (`ln -s releases/2
 *     current.tmp && mv -T current.tmp current`) or Kubernetes' `..data`
 *     swap re-resolves the path;
 *   - the file by its last name in its directory (made, renamed into place,
 *     removed, written, closed, its mode changed);
 *   - the file's own inode, so that a write through another hard link, in
 *     any directory, is seen too;
 *   - a missing component by name in the nearest existing directory, until
 *     it is there (a directory swapped or made later, a dangling symlink).
 *
 * The events of one read are taken together (a write in place is seen by
 * the directory and by the inode: one edit), then the path is resolved
 * again and the change judged: COMPLETE when the writer closed the file,
 * something was renamed or re-pointed into place, or its mode or owner
 * changed; WRITING when it was written and not closed yet; UNSURE when the
 * file went away or came back through a directory change, so that nobody
 * can say whether it is whole. An inotify queue overflow is COMPLETE.
 *
 * The file in use is the first of the candidates, in order (--values or
 * $NAP_VALUES alone, else /etc/nap's and get.sh's /opt/nap's), that exists
 * (a name that is there, also a dangling symlink); each is watched, so that
 * one appearing, or the one in use going, is seen.
 *
 * ---- the metrics (daemon-metrics.c) ----
 *
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
#include <systemd/sd-event.h>

#include "kube.h"
#include "rollout.h"
#include "util/macro.h"

typedef enum ValuesChange {
        VALUES_COMPLETE, /* a pass may read it now */
        VALUES_WRITING,  /* a writer has it open: wait for its close */
        VALUES_UNSURE,   /* gone, or back by a directory change: wait for quiet */
} ValuesChange;

typedef void (*ValuesEdit)(ValuesChange change, void *userdata);

/* edit() is called for a change of the file in use, and of a candidate
 * before it in the order that is there now (a change of another is not
 * one), never from inside these calls. Which candidate is in use is
 * decided when a pass is about to read it (values_search_resolve()), so
 * that a file swapped or written is judged once its writer is done;
 * switched() is called then when it changed (now NULL: none is there). */
typedef struct ValuesSearch ValuesSearch;
typedef void (*ValuesSwitched)(const char *now, const char *before, void *userdata);

int values_search_new(sd_event *event, const char *const *candidates, ValuesEdit edit, ValuesSwitched switched,
                      void *userdata, ValuesSearch **ret);
ValuesSearch *values_search_free(ValuesSearch *s);
/* The candidate in use (as last resolved), or NULL when none existed. */
const char *values_search_current(const ValuesSearch *s);
/* Decides again which candidate is in use: the first that exists now
 * (switched() is called when that changed); NULL when none does. */
const char *values_search_resolve(ValuesSearch *s);
/* Resolves every candidate's path again, re-arming the watches (SIGHUP). */
int values_search_refresh(ValuesSearch *s);

/* ---- the metrics (daemon-metrics.c) ---- */

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
/* values.env is not there at all (no pass reads it): as refused, since
 * now_usec (wall clock) unless it was already. */
void metrics_values_missing(Metrics *m, uint64_t now_usec);
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
