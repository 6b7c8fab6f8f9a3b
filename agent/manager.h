/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager runs the pipeline: values.env -> config -> desired set ->
 * plan -> apply (Kubernetes, PostgreSQL) -> ledger. One pass is what the
 * `apply` verb does once and what the daemon does on every edit. A pass is
 * asynchronous (manager-pass.c): its requests run on the manager's sd-event
 * loop, independent ones at once, so the daemon's loop is never blocked;
 * the one-shot verbs run the same pass and the loop until it is done. The
 * manager is, with the CLI, the only place that logs above debug: it
 * decides what to do and says so once per decision.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "kube.h"
#include "ledger.h"
#include "oauth.h"
#include "plan.h"
#include "template.h"

typedef struct ManagerOptions {
        const char *values_path;
        const char *state_dir;  /* NULL: $STATE_DIRECTORY, else /var/lib/nap-agent */
        const char *kubeconfig; /* --kubeconfig, or NULL */
        TemplateDirs templates;
        KubeClientOptions kube_options;
        OAuthOptions oauth_options;
        unsigned pass_deadline_ms; /* a whole pass; 0: 60 s */
        bool read_only;            /* plan, status, doctor: the ledger is only read (see ledger_open_read_only) */
        const char *lock_as;       /* set: hold the state directory's lock, as this (e.g. "nap-agent apply") */
        sd_event *event;           /* the loop passes run on; NULL: a private one */
} ManagerOptions;

typedef struct Pass Pass;

typedef struct Manager {
        ManagerOptions options;
        sd_event *event;
        int lock_fd;
        char *state_dir;
        Ledger *ledger;
        KubeClient *kube;
        char *kube_path; /* the kubeconfig kube was made from */
        OAuthDb *db;
        char *db_conninfo; /* what db was made from (may hold a password) */
        bool db_private;   /* db runs on its own loop (made by manager_db, for the synchronous verbs) */
        Pass *pass;        /* the pass in progress, or NULL */
        char *guard_passed; /* what the APP_PREFIX guard last passed for (manager-guard.c), or NULL */
        char digest_key[65];    /* the secret-digest annotation's key, hex (manager-digest.c); secret */
        char *digest_key_ns;    /* the namespace it was read from; NULL: not read yet */
        char last_error[512]; /* why the current pass failed, one line, no secret */
} Manager;

enum {
        PASS_RESYNC = 1u << 0,  /* re-read every desired object and client, repairing drift */
        PASS_DRY_RUN = 1u << 1, /* plan only: nothing is sent, nothing recorded */
        PASS_CLIENTS_ONLY = 1u << 2, /* `seed`: only the oauth_clients rows */
};

/* A workload (Deployment, DaemonSet) a pass created or changed: what
 * manager-rollout.c follows. */
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
        bool invalid_values;       /* values.env could not be used: nothing was applied */
        char *status;              /* one line for STATUS= and `status`; no secret */
        PassWorkload *workloads;   /* created or changed by this pass */
        size_t n_workloads;
} PassResult;

void pass_result_clear(PassResult *r);
/* Notes a workload the pass created or changed (live: the object the apply
 * returned); other kinds are ignored (manager-rollout.c). */
int pass_result_add_workload(PassResult *r, const char *module, const cJSON *live);
/* Whether the pass wrote anything (created, changed, deleted or repaired). */
bool pass_result_wrote(const PassResult *r);

/* Opens the ledger in the state directory (and takes its lock when
 * opts->lock_as is set: -EBUSY, logged with the holder, when another
 * process has it). */
int manager_new(const ManagerOptions *opts, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Drops the server connections and reloads the ledger, so the next pass
 * re-reads the kubeconfig and the database settings (SIGHUP). Not while a
 * pass runs (-EBUSY). */
int manager_reload(Manager *m);

/* Closes the API server and database connections; with them go libcurl and
 * libpq (see util/dlib.h). The next pass opens them again. Not while a pass
 * runs. */
void manager_close_connections(Manager *m);
/* Idle: the connections closed, and the ledger (saved) dropped from memory;
 * the next pass reads it again. Not while a pass runs. */
void manager_idle(Manager *m);
/* The ledger, read again when manager_idle() dropped it. */
int manager_ledger(Manager *m);

/* Called once when a pass ends (not when it is cancelled). r: 0 when
 * everything converged, else a negative errno (res->status says why). res
 * is the caller's to clear. */
typedef void (*PassDone)(Manager *m, int r, PassResult *res, void *userdata);

/* Starts a pass on the manager's loop. -EBUSY when one is running; never
 * calls done from inside this call. */
int manager_pass_start(Manager *m, unsigned flags, PassDone done, void *userdata);
/* Stops the pass in progress at once: requests in flight are dropped (their
 * intents stay in the ledger, which is saved), done is not called. With why
 * (e.g. "stopping") and a pass running, the ledger's last pass says it was
 * cancelled and why. Returns whether a pass was running. */
bool manager_pass_cancel(Manager *m, const char *why);
bool manager_pass_running(const Manager *m);

/* One pass, run to the end on the manager's loop (the one-shot verbs).
 * Returns 0 when everything converged, else a negative errno (the status
 * line says why); ret is always filled. */
int manager_pass(Manager *m, unsigned flags, PassResult *ret);

/* Loads values.env and renders it, logging the diagnostics. On failure
 * *ret_status says why in one line. */
int manager_load_desired(Manager *m, Config **ret_config, DesiredSet **ret_desired, char **ret_status);

typedef struct LoopOptions {
        uint64_t settle_usec;     /* quiet time after a write that is not closed (default 500 ms) */
        uint64_t rollout_timeout_usec; /* following a rollout: how long it may take; 0: do not follow */
        uint64_t resync_usec;     /* periodic full re-apply; 0: never (default 10 min) */
        uint64_t idle_close_usec; /* after a pass, when to close the connections; 0: never */
} LoopOptions;

/* The daemon: runs until SIGTERM/SIGINT, then saves the ledger. Returns 0
 * on a clean stop. */
int manager_run(Manager *m, const LoopOptions *opts);

/* The Kubernetes client, made on first use from the kubeconfig that
 * --kubeconfig, $KUBECONFIG, the credential, KUBECONFIG in values.env or
 * the well-known paths name. */
int manager_kube(Manager *m, const Config *c, KubeClient **ret);
/* The database for a conninfo, on the manager's loop (made when it differs
 * from the last one); nothing is connected before the first operation. */
int manager_db_for(Manager *m, const char *conninfo, OAuthDb **ret);
/* The conninfo from $DATABASE_URL or DATABASE_URL in values.env; 0 and
 * NULL when neither is set (then the ClusterIP of ${APP_PREFIX}-pg-rw is
 * needed, see manager_db_conninfo_for_host). */
int manager_db_conninfo(const Config *c, char **ret);
char *manager_db_conninfo_for_host(const Config *c, const char *host);
/* The database, synchronously (plan --live, doctor): the conninfo, the
 * Service address when needed, and the connection, made at once on a loop
 * of its own so that an unreachable server is reported here. */
int manager_db(Manager *m, const Config *c, OAuthDb **ret);

/* install.sh's second APP_PREFIX guard (manager-guard.c): a namespace
 * holding a Deployment <other>-cp, and none ${APP_PREFIX}-cp, is refused.
 * manager_guard_needed: whether to look (again: always); the pass lists
 * manager_guard_path on its loop and hands the answer (r, list, err) to
 * manager_guard_verdict, which returns 0 or a negative errno it logged with
 * manager_fail (-EEXIST: another prefix). manager_guard: the same,
 * synchronously (plan --live). */
bool manager_guard_needed(const Manager *m, const Config *c, bool again);
int manager_guard_path(const Config *c, char **ret);
int manager_guard_verdict(Manager *m, const Config *c, int r, const cJSON *list, const KubeError *err);
int manager_guard(Manager *m, const Config *c);
/* The secret-digest annotation's key (manager-digest.c): read from Secret
 * SECRET_DIGEST_KEY_SECRET of the configuration's namespace, created there
 * first when create is set and it does not exist, and kept in the manager.
 * done is called once from the loop (never from inside the call) unless the
 * operation is cancelled; r is -ENOENT when the Secret does not exist and
 * create is not set. */
typedef struct DigestKeyOp DigestKeyOp;
typedef void (*DigestKeyDone)(Manager *m, int r, const KubeError *err, void *userdata);
int manager_digest_key_start(Manager *m, const Config *c, bool create, DigestKeyDone done, void *userdata,
                             DigestKeyOp **ret);
void digest_key_op_cancel(DigestKeyOp *op);
/* The same, run on the manager's loop until done (plan --live); failures
 * other than -ENOENT without create are logged. */
int manager_digest_key(Manager *m, const Config *c, bool create);
bool manager_has_digest_key(const Manager *m, const Config *c);
void manager_forget_digest_key(Manager *m);
/* Seals d's secret-digest annotations with the key (-ENOKEY: not read yet). */
int manager_seal_digests(Manager *m, const Config *c, DesiredSet *d);

/* A pass's wait for that key: started beside its first groups (which do
 * not need it), waited for by the first group that does. */
typedef struct DigestGate {
        DigestKeyOp *op;
        bool waiting;
        int error;    /* reading it failed, and err says why */
        KubeError err;
        void (*resume)(void *userdata);
        void *userdata;
} DigestGate;
/* Starts reading the key unless it is known (0). resume is called, from
 * the loop, when digest_gate_ready() asked to wait and the key is there or
 * reading it failed. */
int digest_gate_start(DigestGate *g, Manager *m, const Config *c, void (*resume)(void *userdata), void *userdata);
/* 0: d is sealed; 1: wait for resume; negative: reading the key failed
 * (g->err says why). */
int digest_gate_ready(DigestGate *g, Manager *m, const Config *c, DesiredSet *d);
void digest_gate_cancel(DigestGate *g);

/* Logs the one line that says why the pass fails, keeps it for STATUS=,
 * and returns -abs(error). */
int manager_fail(Manager *m, int error, const char *format, ...) _printf_(3, 4);
