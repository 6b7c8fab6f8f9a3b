/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager owns what a pass needs from outside and what outlives it:
 * the state directory (and its lock), the ledger in it, and the
 * connections to the API server and the database. The pass (pass.h) runs
 * on it, the daemon (daemon.h) around the pass, and the verbs make one for
 * their run. It decides nothing about what to apply; it logs only a
 * connection or state directory it cannot open, once, where it fails
 * (manager_fail), and keeps that line for the pass's STATUS=.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "kube.h"
#include "ledger.h"
#include "oauth.h"
#include "template.h"

typedef struct ManagerOptions {
        const char *values_path;
        const char *state_dir;  /* NULL: $STATE_DIRECTORY, else /var/lib/nap-agent */
        const char *kubeconfig; /* --kubeconfig, or NULL */
        TemplateDirs templates;
        KubeClientOptions kube_options;
        OAuthOptions oauth_options;
        bool read_only;            /* plan, status, doctor: the ledger is only read (see ledger_open_read_only) */
        bool ledger_reported;      /* doctor: the ledger is opened by the first manager_ledger(), not by
                                    * manager_new(), and a failure is not logged: the caller reports
                                    * manager_ledger_error() */
        const char *lock_as;       /* set: hold the state directory's lock, as this (e.g. "nap-agent apply") */
        sd_event *event;           /* the loop requests run on; NULL: a private one */
} ManagerOptions;

typedef struct Manager Manager;

/* The state directory opts name: opts->state_dir, else $STATE_DIRECTORY,
 * else /var/lib/nap-agent (a string of opts, the environment or static). */
const char *manager_state_dir_of(const ManagerOptions *opts);

/* Opens the ledger in the state directory (and takes its lock when
 * opts->lock_as is set: -EBUSY, logged with the holder, when another
 * process has it). A state directory, ledger.json or ledger.key that
 * someone else may write is refused (see check_state_dir in manager.c and
 * ledger_open()), and so is one that cannot be read, naming the file and
 * the user: never read as empty. The strings of opts are borrowed for the
 * manager's life. */
int manager_new(const ManagerOptions *opts, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* What it was made with; the daemon sets its deadlines there before the
 * first connection is made. */
ManagerOptions *manager_options(Manager *m);
sd_event *manager_event(const Manager *m);
/* The state directory, as given or defaulted. */
const char *manager_state_dir(const Manager *m);
/* The line of the last connection failure manager_fail() logged, or "". */
const char *manager_last_error(const Manager *m);
void manager_clear_error(Manager *m);
/* Whether that failure was a kubeconfig that cannot be found or read:
 * nothing a retry fixes (the operator hands one in, then SIGHUP or an edit). */
bool manager_kubeconfig_failed(const Manager *m);

/* The ledger, read again when manager_idle() dropped it or a plan refused
 * it (a failure is logged). Valid until the next manager_idle(),
 * manager_reload() or manager_ledger(). */
int manager_ledger(Manager *m, Ledger **ret);
/* The ledger when it is in memory (a pass runs with it), else NULL. */
Ledger *manager_ledger_loaded(const Manager *m);
/* Why the last attempt to open the ledger failed (naming the file, and the
 * user when it could not be read), or NULL. */
const char *manager_ledger_error(const Manager *m);

/* Drops the server connections and reads the ledger again, so the next
 * pass re-reads the kubeconfig and the database settings (SIGHUP). Never
 * while a pass runs: the caller cancels it first. */
int manager_reload(Manager *m);
/* Whether an API server connection is open. */
bool manager_connected(const Manager *m);
/* The requests to the API server of every client manager_kube() made so
 * far, closed ones included (the daemon's metrics). */
void manager_kube_requests(const Manager *m, KubeRequests *ret);
/* Idle: the API server and database connections closed (with them go
 * libcurl and libpq, see util/dlib.h), and the ledger (saved) dropped from
 * memory; the next pass opens and reads them again. Never while a pass
 * runs. */
void manager_idle(Manager *m);

/* The Kubernetes client, made on first use from the kubeconfig that
 * --kubeconfig, $KUBECONFIG, the credential, KUBECONFIG in values.env or
 * the well-known paths name. */
int manager_kube(Manager *m, const Config *c, KubeClient **ret);
/* The kubeconfig manager_kube() uses (or would use) for c: a new string;
 * -ENOENT when none is found (not logged). */
int manager_kubeconfig_path(Manager *m, const Config *c, char **ret);
/* A client of its own on the manager's loop, from the same kubeconfig,
 * with at most max_connections (the rollouts' watches, which outlive the
 * pass's connection); c may be NULL: values.env is read for KUBECONFIG.
 * Not logged: err says why it failed. */
int manager_kube_client_new(Manager *m, const Config *c, unsigned max_connections, KubeClient **ret, KubeError *err);

/* The database for a conninfo, on the manager's loop (made when it differs
 * from the last one); nothing is connected before the first operation. */
int manager_db_for(Manager *m, const char *conninfo, OAuthDb **ret);
/* Cancels the operation in flight on the database, if one is open. */
void manager_db_cancel(Manager *m);
/* The conninfo from $DATABASE_URL or DATABASE_URL in values.env; 0 and
 * NULL when neither is set (then the ClusterIP of ${APP_PREFIX}-pg-rw is
 * needed, see manager_db_conninfo_for_host). */
int manager_db_conninfo(const Config *c, char **ret);
char *manager_db_conninfo_for_host(const Config *c, const char *host);
/* Where the rows go, as far as it is known without connecting: the host,
 * port and database name DATABASE_URL names (libpq parses it; it is loaded
 * for that only when the manager has not seen that DATABASE_URL yet) or,
 * without DATABASE_URL, port 5432 and DB_NAME at the Service's address
 * (host NULL: read when a row is written). The system identifier is not
 * known before connecting (NULL). A failure is logged (manager_fail). */
int manager_db_target(Manager *m, const Config *c, LedgerDatabase *ret);
/* Where db's conninfo points (oauth_db_target), as the ledger records it. */
int manager_db_where(const OAuthDb *db, LedgerDatabase *ret);
/* The database, synchronously (plan --live, doctor): the conninfo, the
 * Service address when needed, and the connection, made at once on a loop
 * of its own so that an unreachable server is reported here. */
int manager_db(Manager *m, const Config *c, OAuthDb **ret);

/* Logs the one line that says why a connection cannot be made, keeps it
 * (manager_last_error), and returns -abs(error). */
int manager_fail(Manager *m, int error, const char *format, ...) _printf_(3, 4);
