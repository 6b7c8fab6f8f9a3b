/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon (`nap-agent run`): one sd-event loop around the pass. It
 * watches values.env (daemon-values.c) and starts a pass as soon as an
 * edit is complete, runs the passes the CLI hands it (daemon-control.c),
 * retries failed passes with backoff, repairs drift with a periodic
 * resync, follows what a pass rolled out (daemon-rollouts.c), and speaks
 * the sd_notify protocol.
 */
#pragma once

#include "manager.h"
#include "util/clock.h"
#include "util/defaults.h"

typedef struct DaemonOptions {
        const char *const *values_candidates; /* where values.env is looked for, in order (NULL-terminated;
                                               * daemon-internal.h); NULL: the manager's values_path alone */
        const char *values_origin;   /* why the first that exists is read, for the first journal line */
        usec_t close_wait_usec;      /* how long a writer may keep values.env open after writing it */
        usec_t settle_usec;          /* quiet time when values.env went away or came back by a directory change */
        usec_t rollout_timeout_usec; /* how long a rollout may take; 0: rollouts are not followed */
        usec_t resync_usec;          /* periodic full re-apply; USEC_INFINITY: never */
        usec_t idle_close_usec;      /* after a pass, when to close the connections; USEC_INFINITY: never */
        const char *metrics_dir;     /* where nap-agent.prom goes (daemon-metrics.h); NULL: node_exporter's
                                      * textfile directory when it exists; "": none */
} DaemonOptions;


/* Runs until SIGTERM/SIGINT, then saves the ledger. Returns 0 on a clean
 * stop. */
int daemon_run(Manager *m, const DaemonOptions *opts);
