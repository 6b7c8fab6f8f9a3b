/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Following rollouts: after a pass that changed a workload (Deployment,
 * DaemonSet), the daemon and `apply --wait` watch it (the workload, its
 * ReplicaSets and its Pods, through kube_watch on the manager's loop, no
 * polling) until rollout.c says it is available or failing, or its
 * deadline turns "still progressing" into failing. One journal line per
 * transition. A rollout's outcome never triggers a write: the agent
 * reports, the operator decides. Nothing is followed, no watch open and no
 * timer armed once every rollout settled. The watches run on a client of
 * their own, so the manager may close its connections meanwhile.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "pass.h"
#include "rollout.h"
#include "util/clock.h"

typedef struct Rollouts Rollouts;
typedef struct RolloutEntry RolloutEntry;

/* Called after an entry settled (available, failing, unknown) or was
 * superseded by a newer generation, once its journal line is logged. */
typedef void (*RolloutsChanged)(Rollouts *rs, void *userdata);

typedef struct RolloutsOptions {
        usec_t timeout_usec;    /* per workload, from the apply; 0: the default (util/defaults.h) */
        bool stop_on_supersede; /* apply --wait: a generation it did not write ends the wait (failing) */
        const char *runtime_path; /* set: the health of every entry is saved there (status reads it) */
} RolloutsOptions;

int rollouts_new(Manager *m, const RolloutsOptions *opts, RolloutsChanged changed, void *userdata, Rollouts **ret);
/* Drops every watch; the runtime file stays (see rollouts_remove_runtime). */
Rollouts *rollouts_free(Rollouts *rs);
DEFINE_TRIVIAL_CLEANUP_FUNC(Rollouts *, rollouts_free);

/* Follows what a pass created or changed (res->workloads). A workload
 * followed already is superseded by the newer generation. */
int rollouts_follow(Rollouts *rs, const PassResult *res);
/* Forgets the workloads the ledger no longer has; with check, also looks
 * at every one of its workloads that has no known health (a daemon that
 * starts, or reloads), following those still rolling out. */
int rollouts_sync(Rollouts *rs, const Ledger *l, bool check);
/* Drops every watch and the client, keeping what is known; the
 * workloads that were followed get health unknown until a check (SIGHUP:
 * the kubeconfig is read again). */
void rollouts_stop(Rollouts *rs);

/* Whether a workload is being followed (a watch or a timer is live). */
bool rollouts_busy(const Rollouts *rs);
/* Where one workload stands (strings owned by the Rollouts: valid until
 * it changes). */
typedef struct RolloutState {
        const char *kind;
        const char *namespace;
        const char *name;
        RolloutHealth health;
        usec_t since_usec; /* wall clock: when it entered that health; 0: not known */
} RolloutState;

/* Every workload, in order: *ret (malloc'ed, *ret_n of them). */
int rollouts_states(const Rollouts *rs, RolloutState **ret, size_t *ret_n);
/* The requests to the API server of the watches' clients so far, closed
 * ones included (the daemon's metrics). */
void rollouts_requests(const Rollouts *rs, KubeRequests *ret);
/* How many entries are in each health. */
void rollouts_count(const Rollouts *rs, unsigned ret[_ROLLOUT_HEALTH_MAX]);
/* "2/3 workloads available, nap-browser failing: ImagePullBackOff"; NULL
 * (and 0) when no workload is known. */
int rollouts_summary(const Rollouts *rs, char **ret);
/* One line per failing entry into *ret ("NAME: MESSAGE; ..."), NULL when none. */
int rollouts_failures(const Rollouts *rs, char **ret);

/* Removes the runtime file (a daemon that stops cleanly). */
void rollouts_remove_runtime(Rollouts *rs);

/* ---- the runtime file, for `status` ------------------------------------------ */

#define ROLLOUTS_RUNTIME_FILE "rollouts.json"

typedef struct RolloutHealthInfo {
        RolloutHealth health;
        const char *reason;  /* NULL when none */
        const char *message;
        const char *since;   /* RFC 3339 */
} RolloutHealthInfo;

/* The daemon's view read from state_dir: *ret (a cJSON object) when the
 * daemon that wrote it still holds the state directory's lock, else NULL
 * (no daemon: the health is unknown). */
int rollouts_runtime_load(const char *state_dir, cJSON **ret);
/* The health of one workload in a view loaded above (view may be NULL). */
void rollouts_runtime_lookup(const cJSON *view, const char *kind, const char *namespace, const char *name,
                             RolloutHealthInfo *ret);
