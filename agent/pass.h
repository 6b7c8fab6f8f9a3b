/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One reconcile pass: values.env -> config -> desired set -> plan against
 * the ledger -> apply (Kubernetes, PostgreSQL) -> ledger. It is what the
 * `apply` verb does once and what the daemon does on every edit. A pass is
 * asynchronous: its requests run on the manager's sd-event loop,
 * independent ones at once, so the daemon's loop is never blocked; the
 * one-shot verbs run it to the end with pass_run(). The pass is, with the
 * daemon and the CLI, where the agent logs above debug: it decides what to
 * do and says so once per decision.
 */
#pragma once

#include <stdbool.h>

#include "manager.h"
#include "plan.h"
#include "template.h"
#include "util/clock.h"
#include "util/defaults.h"

enum {
        PASS_RESYNC = 1u << 0,       /* re-read every desired object and client, repairing drift */
        PASS_CLIENTS_ONLY = 1u << 1, /* `seed`: only the oauth_clients rows */
};

typedef struct PassOptions {
        unsigned flags;      /* PASS_* */
        usec_t deadline_usec; /* the whole pass */
} PassOptions;

#define PASS_OPTIONS_DEFAULT ((PassOptions) { .deadline_usec = DEFAULT_PASS_DEADLINE_USEC })

/* A workload (Deployment, DaemonSet) a pass created or changed: what the
 * daemon follows (daemon-rollouts.h). */
typedef struct PassWorkload {
        char *api_version;
        char *kind;
        char *namespace;
        char *name;
        char *module;
        long long generation; /* metadata.generation the apply left */
} PassWorkload;

typedef struct PassResult {
        unsigned objects_applied;  /* created or changed */
        unsigned objects_deleted;
        unsigned objects_repaired; /* resync found them drifted */
        unsigned clients_changed;  /* registered or updated */
        unsigned clients_repaired;
        unsigned objects_unchanged;
        unsigned warnings;         /* survived, logged (e.g. nap-cp missing) */
        unsigned platform_keys;    /* keys only install.sh applies that this edit changed (said once) */
        bool invalid_values;       /* values.env could not be used: nothing was applied */
        bool no_kubeconfig;        /* no kubeconfig could be found or read: a retry cannot help */
        unsigned pending_changes;  /* writes a plan against the ledger still holds (a failed pass) */
        unsigned clients_registered; /* oauth_clients rows in the ledger, of modules that are on */
        unsigned clients_kept;     /* ... of modules turned off (the row stays) */
        unsigned long long generation; /* the ledger's, after the pass */
        char *status;              /* one line for STATUS= and `status`; no secret */
        PassWorkload *workloads;   /* created or changed by this pass */
        size_t n_workloads;
} PassResult;

void pass_result_clear(PassResult *r);
/* Whether the pass wrote anything (created, changed, deleted or repaired). */
bool pass_result_wrote(const PassResult *r);

/* What passes learn of the cluster and keep from one to the next: the
 * APP_PREFIX guard's verdict and the secret digest's key. Forget it when
 * the kubeconfig may name another cluster (SIGHUP). */
typedef struct PassCache PassCache;
int pass_cache_new(PassCache **ret);
PassCache *pass_cache_free(PassCache *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(PassCache *, pass_cache_free);
void pass_cache_forget(PassCache *c);

typedef struct Pass Pass;

/* Called once when a pass ends, unless it was cancelled; the pass is freed
 * right after. r: 0 when everything converged, else a negative errno
 * (res->status says why). res is the callee's to clear. */
typedef void (*PassDone)(int r, PassResult *res, void *userdata);

/* Starts a pass on the manager's loop; never calls done from inside this
 * call. cache (kept by the caller, may be NULL) outlives the pass. */
int pass_start(Manager *m, PassCache *cache, const PassOptions *opts, PassDone done, void *userdata, Pass **ret);
/* Stops p at once: requests in flight are dropped (their intents stay in
 * the ledger, which is saved), done is not called, p is freed. With why
 * (e.g. "stopping"), the ledger's last pass says it was cancelled and why;
 * *ret_status (may be NULL) gets that line. NULL is a no-op. */
void pass_cancel(Pass *p, const char *why, char **ret_status);

/* One pass run to its end on the manager's loop (the one-shot verbs).
 * Returns 0 when everything converged, else a negative errno (the status
 * line says why); ret is always filled. */
int pass_run(Manager *m, PassCache *cache, const PassOptions *opts, PassResult *ret);

/* Loads values.env and renders it, logging the diagnostics. On failure
 * *ret_status says why in one line that names the file: its first error,
 * or why it could not be read (missing, a dangling symlink, not readable
 * by this user); -ENOENT when it is missing. */
int pass_load_desired(Manager *m, Config **ret_config, DesiredSet **ret_desired, char **ret_status);

/* install.sh's second APP_PREFIX guard, synchronously (plan --live): a
 * namespace holding a Deployment <other>-cp, and none ${APP_PREFIX}-cp, is
 * refused with -EEXIST (logged). */
int pass_guard_check(Manager *m, PassCache *cache, const Config *c);
/* The secret digest's key read into cache, synchronously (plan --live):
 * -ENOENT (not logged) when the Secret does not exist and create is not
 * set; other failures are logged. */
int pass_digest_key_read(Manager *m, PassCache *cache, const Config *c, bool create);
/* Seals d's secret-digest annotations with the key (-ENOKEY: not read). */
int pass_seal_digests(const PassCache *cache, const Config *c, DesiredSet *d);
