/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every default of a time the agent waits or gives up after, in one
 * place, in usec_t (util/clock.h). Inside the agent an option of 0 takes
 * the default named here and USEC_INFINITY means never; only the command
 * line and the messages speak seconds or milliseconds.
 */
#pragma once

#include "util/clock.h"

/* ---- the Kubernetes client (KubeClientOptions, KubeWatchOptions) ---- */
#define DEFAULT_KUBE_REQUEST_TIMEOUT_USEC (10 * USEC_PER_SEC)  /* one attempt */
#define DEFAULT_KUBE_CONNECT_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define DEFAULT_KUBE_DEADLINE_USEC (30 * USEC_PER_SEC)         /* one call, its retries included */
#define DEFAULT_KUBE_BACKOFF_INITIAL_USEC (200 * USEC_PER_MSEC)
#define DEFAULT_KUBE_BACKOFF_MAX_USEC (5 * USEC_PER_SEC)
#define DEFAULT_WATCH_TIMEOUT_USEC (300 * USEC_PER_SEC)        /* timeoutSeconds of one watch request */
#define DEFAULT_WATCH_BACKOFF_INITIAL_USEC (250 * USEC_PER_MSEC)
#define DEFAULT_WATCH_BACKOFF_MAX_USEC (4 * USEC_PER_SEC)

/* ---- the database (OAuthOptions) ---- */
#define DEFAULT_OAUTH_CONNECT_TIMEOUT_USEC (5 * USEC_PER_SEC)   /* resolving and connecting, all hosts */
#define DEFAULT_OAUTH_STATEMENT_TIMEOUT_USEC (5 * USEC_PER_SEC) /* enforced by the server */
#define DEFAULT_OAUTH_DEADLINE_USEC (10 * USEC_PER_SEC)         /* a whole operation */

/* ---- a pass (PassOptions) of a one-shot verb; the daemon's is below half its watchdog period ---- */
#define DEFAULT_PASS_DEADLINE_USEC (60 * USEC_PER_SEC)

/* ---- the daemon (DaemonOptions; `nap-agent run`'s options) ---- */
/* A pass of the daemon: below half its watchdog period, at most this, at
 * least the minimum; each call of one within the daemon's call deadline
 * (and the pass's), each other timeout within the pass's too. */
#define DEFAULT_DAEMON_PASS_DEADLINE_USEC (30 * USEC_PER_SEC)
#define MIN_DAEMON_PASS_DEADLINE_USEC (200 * USEC_PER_MSEC)
#define DEFAULT_DAEMON_KUBE_DEADLINE_USEC (5 * USEC_PER_SEC)
#define DEFAULT_DAEMON_SETTLE_USEC (500 * USEC_PER_MSEC)
#define DEFAULT_DAEMON_CLOSE_WAIT_USEC (30 * USEC_PER_SEC)
#define MAX_DAEMON_CLOSE_WAIT_USEC (300 * USEC_PER_SEC)
#define DEFAULT_DAEMON_RESYNC_USEC (600 * USEC_PER_SEC)
#define DEFAULT_DAEMON_IDLE_CLOSE_USEC (30 * USEC_PER_SEC)
#define DEFAULT_ROLLOUT_TIMEOUT_USEC (300 * USEC_PER_SEC)

/* ---- doctor (DoctorOptions): short, so an unreachable server fails in seconds ---- */
#define DEFAULT_DOCTOR_KUBE_DEADLINE_USEC (3 * USEC_PER_SEC)
#define DEFAULT_DOCTOR_KUBE_REQUEST_TIMEOUT_USEC (2500 * USEC_PER_MSEC)
#define DEFAULT_DOCTOR_KUBE_CONNECT_TIMEOUT_USEC (1500 * USEC_PER_MSEC)
#define DEFAULT_DOCTOR_STUN_TIMEOUT_USEC (1 * USEC_PER_SEC)
