/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager runs the pipeline: values.env -> config -> desired set ->
 * plan -> apply (Kubernetes, PostgreSQL) -> ledger. One pass is what the
 * `apply` verb does once and what the daemon does on every edit. It is,
 * with the CLI, the only place that logs above debug: it decides what to do
 * and says so once per decision.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

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
        bool read_only; /* plan, status, doctor: the ledger is only read (see ledger_open_read_only) */
} ManagerOptions;

typedef struct Manager {
        ManagerOptions options;
        char *state_dir;
        Ledger *ledger;
        KubeClient *kube;
        char *kube_path; /* the kubeconfig kube was made from */
        OAuthDb *db;
        char *db_conninfo; /* what db was made from (may hold a password) */
        char last_error[512]; /* why the current pass failed, one line, no secret */
} Manager;

enum {
        PASS_RESYNC = 1u << 0,  /* re-apply every desired object and client, repairing drift */
        PASS_DRY_RUN = 1u << 1, /* plan only: nothing is sent, nothing recorded */
        PASS_CLIENTS_ONLY = 1u << 2, /* `seed`: only the oauth_clients rows */
};

typedef struct PassResult {
        unsigned objects_applied;  /* created or changed */
        unsigned objects_deleted;
        unsigned objects_repaired; /* resync found them drifted */
        unsigned clients_changed;  /* registered, updated or removed */
        unsigned clients_repaired;
        unsigned objects_unchanged;
        bool invalid_values;       /* values.env could not be used: nothing was applied */
        char *status;              /* one line for STATUS= and `status`; no secret */
} PassResult;

void pass_result_clear(PassResult *r);

int manager_new(const ManagerOptions *opts, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Drops the server connections and reloads the ledger, so the next pass
 * re-reads the kubeconfig and the database settings (SIGHUP). */
int manager_reload(Manager *m);

/* Closes the API server and database connections; with them go libcurl and
 * libpq (see util/dlib.h). The next pass opens them again. */
void manager_close_connections(Manager *m);

/* One reconcile pass. Returns 0 when everything converged, else a negative
 * errno (the status line says why); ret is always filled. */
int manager_pass(Manager *m, unsigned flags, PassResult *ret);

/* Loads values.env and renders it, logging the diagnostics. On failure
 * *ret_status says why in one line. */
int manager_load_desired(Manager *m, Config **ret_config, DesiredSet **ret_desired, char **ret_status);

typedef struct LoopOptions {
        uint64_t debounce_usec; /* quiet time after an edit before a pass (default 100 ms) */
        uint64_t resync_usec;   /* periodic full re-apply; 0: never (default 10 min) */
        uint64_t idle_close_usec; /* after a pass, when to close the connections; 0: never */
} LoopOptions;

/* The daemon: runs until SIGTERM/SIGINT, then saves the ledger. Returns 0
 * on a clean stop. */
int manager_run(Manager *m, const LoopOptions *opts);

/* The Kubernetes client, made on first use from the kubeconfig that
 * --kubeconfig, $KUBECONFIG, KUBECONFIG in values.env, the credential or
 * the well-known paths name. */
int manager_kube(Manager *m, const Config *c, KubeClient **ret);
/* The database, made on first use from $DATABASE_URL, DATABASE_URL in
 * values.env, or PG_USERNAME/PG_PASSWORD/DB_NAME and the ClusterIP of
 * Service ${APP_PREFIX}-pg-rw. */
int manager_db(Manager *m, const Config *c, OAuthDb **ret);
