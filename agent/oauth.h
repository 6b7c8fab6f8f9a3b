/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PostgreSQL half of `apply`: the `oauth_clients` rows the optional
 * services (sandbox-service, browser-service) log in to the control plane
 * with. Public PKCE clients: secret_hash NULL, created_by = the oldest user
 * with role 'admin'. Of a row's redirect_uris the agent owns only the URIs
 * it registered: it adds the current one and takes out the ones it
 * registered before, keeping every other (an admin's). One transaction per
 * pass, preceded by reading the server's system identifier (which database
 * the rows went to); one parameterised upsert per client that writes
 * nothing when the row already matches; a plain DELETE when asked.
 *
 * Everything runs on an sd-event loop and never blocks it: the host name is
 * resolved on a thread (util/resolve), libpq connects and queries through
 * its asynchronous API, and every operation has a deadline enforced by a
 * timer, after which the connection is closed. The daemon starts operations
 * on its own loop (oauth_sync_start); the synchronous functions below run
 * the same operations on the db's loop until they complete, for the CLI and
 * doctor.
 *
 * Errors are negative errnos; the human detail (never the password) is in
 * OAuthError.message:
 *   -ECONNREFUSED  nothing listens at host:port ("cannot reach PostgreSQL at HOST:PORT: ...")
 *   -EHOSTUNREACH  host unreachable or its name does not resolve (same message)
 *   -ETIMEDOUT     connecting took longer than connect_timeout_usec (same message, "timeout expired"),
 *                  the server cancelled a statement (statement_timeout), or the operation's deadline
 *                  expired ("no answer from PostgreSQL at HOST:PORT within N ms"): the connection
 *                  is closed and the next operation reconnects
 *   -EACCES        authentication refused ("PostgreSQL rejected the credentials for user "U""),
 *                  or the role lacks a privilege on a table (SQLSTATE 42501)
 *   -ENOENT        a table is missing ("table oauth_clients does not exist: the control plane
 *                  has not run its migrations yet"), or the database does not exist
 *   -ENODATA       a row must be inserted but no user has role 'admin' ("no user with role
 *                  'admin' in table users: seed the platform admin first")
 *   -EINVAL        invalid connection string, invalid spec, or the server refused a value
 *                  (SQLSTATE class 22/23)
 *   -EAGAIN        serialization failure or deadlock (40001/40P01): retry the pass
 *   -ECONNRESET    the connection was lost during the operation (the next one reconnects). A kept
 *                  connection found closed before the operation got any answer is re-established
 *                  once, transparently.
 *   -EBUSY         an operation is already running on this db
 *   -EDEADLK       a synchronous function was called from inside a dispatch of the db's own loop
 *   -ECANCELED     a synchronous function's operation was cancelled (oauth_cancel from another
 *                  source of a shared loop)
 *   -ENOMEM        out of memory
 *   -EIO           any other libpq or server failure
 * err may be NULL; it is written only on failure. Never logs above debug.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "util/clock.h"
#include "util/macro.h"

typedef struct OAuthDb OAuthDb;

typedef struct OAuthError {
        char message[512]; /* one line, password replaced by <redacted>; "" when none */
        char sqlstate[6];  /* the server's SQLSTATE when there was one, else "" */
} OAuthError;

typedef struct OAuthOptions {
        /* 0: the defaults of util/defaults.h */
        usec_t connect_timeout_usec;   /* resolving the host name and connecting, all hosts together (whole
                                          seconds for libpq: rounded up) */
        usec_t statement_timeout_usec; /* enforced by the server, per statement (milliseconds there) */
        usec_t deadline_usec;          /* a whole operation (connect and every statement), enforced here by a
                                          timer on the loop */
} OAuthOptions;

typedef struct OAuthClientSpec {
        const char *id;           /* "sandbox-service" */
        const char *name;         /* "Code Sandbox" */
        const char *redirect_uri; /* an element of redirect_uris, verbatim: appended when missing */
        const char *const *owned_uris; /* the URIs the agent registered before: taken out of
                                          redirect_uris (unless one is redirect_uri); every
                                          other element stays where it is */
        size_t n_owned_uris;
} OAuthClientSpec;

typedef enum OAuthChange {
        OAUTH_UNCHANGED, /* upsert: the row already matched, nothing written */
        OAUTH_CREATED,   /* upsert: inserted */
        OAUTH_UPDATED,   /* upsert: name and/or redirect_uris (and updated_at) rewritten */
        OAUTH_DELETED,   /* delete: the row was there and is gone */
        OAUTH_ABSENT,    /* delete: there was no such row */
        _OAUTH_CHANGE_MAX,
} OAuthChange;

/* A row as stored, for doctor, status and tests. */
typedef struct OAuthClient {
        char *id;
        char *name;
        bool has_secret;      /* secret_hash IS NOT NULL (the hash itself is never read) */
        char **redirect_uris; /* NULL-terminated, in array order; a NULL element reads as "" */
        size_t n_redirect_uris;
        char *created_by;
        char *description;  /* NULL when NULL */
        char *homepage_url; /* NULL when NULL */
} OAuthClient;

/* Parses and checks conninfo (a postgres:// URI or key=value string; NULL
 * or "" means libpq's defaults from PG* variables) and loads libpq; resolves
 * and connects nothing yet. Every connection made later has
 * statement_timeout (an `options` in conninfo is kept and extended),
 * client_encoding UTF8, fallback_application_name nap-agent, and unless
 * conninfo sets them keepalives (idle 10 s, interval 5 s, count 3: a dead
 * peer is noticed within 25 s) and tcp_user_timeout 10000 ms. A host that
 * is a name is resolved without blocking before each connection and given
 * to libpq as hostaddr beside host (which TLS and pg_hba still see); every
 * host of a list is, each address of a name becoming one more entry. A
 * `service` (conninfo or PGSERVICE) is refused unless host or hostaddr is
 * given too: its file could name a host libpq would resolve itself.
 * event: the loop every operation runs on (a reference is taken); NULL
 * makes a private one, which the synchronous functions run. */
int oauth_db_new(const char *conninfo, const OAuthOptions *opts, sd_event *event, OAuthDb **ret,
                 OAuthError *err);
/* Cancels a running operation (its callback is not called), closes the
 * connection, drops the loop reference. NULL-safe; returns NULL. */
OAuthDb *oauth_db_free(OAuthDb *db);
DEFINE_TRIVIAL_CLEANUP_FUNC(OAuthDb *, oauth_db_free);

/* The asynchronous sync: one transaction (connect or reuse the kept
 * connection, read the server's system identifier, BEGIN, one upsert per
 * spec, one delete per id, COMMIT), all of it non-blocking on the db's loop. cb runs exactly once, from the loop,
 * never from inside this call: r is 0 and changes has n_specs + n_delete
 * entries (one per spec, then one per delete; NULL when both are 0), or r is
 * a negative errno with err set, everything rolled back and changes NULL.
 * changes and err are valid during the call only. The db is idle again when
 * cb runs: cb may start the next operation, or free db. specs and
 * delete_ids are copied. Returns 0, or -EBUSY when an operation is running,
 * -ENOMEM; then cb is never called. */
typedef void (*OAuthSyncDone)(OAuthDb *db, int r, const OAuthChange *changes, const OAuthError *err,
                              void *userdata);
int oauth_sync_start(OAuthDb *db, const OAuthClientSpec *specs, size_t n_specs, const char *const *delete_ids,
                     size_t n_delete, OAuthSyncDone cb, void *userdata);

/* Abandons the running operation at once (SIGTERM, a pass deadline):
 * closes its connection without waiting for anything (no PQcancel), and its
 * callback is not called. A no-op when idle. */
void oauth_cancel(OAuthDb *db);
bool oauth_busy(const OAuthDb *db);

/* The system identifier (pg_control_system()) of the server the last
 * successful sync wrote to, as decimal text; NULL when the server refused
 * to tell (EXECUTE on pg_control_system() revoked: the sync went on
 * without it) or no sync has succeeded. Valid until the next operation. */
const char *oauth_db_system_identifier(const OAuthDb *db);

/* Where the conninfo points, before anything is connected (a NULL is not
 * known): host (as given; a list stays a list; else PGHOST or hostaddr;
 * else "localhost"), port (else PGPORT, else "5432") and the database name
 * (else PGDATABASE, else the user name when one is given). malloc'ed;
 * -ENOMEM. */
int oauth_db_target(const OAuthDb *db, char **ret_host, char **ret_port, char **ret_dbname);

/* The live connection's value of a libpq connection keyword ("hostaddr",
 * "keepalives_idle", ...), malloc'ed; NULL when there is no connection, the
 * keyword is unknown or unset, or it is "password". For doctor and tests. */
char *oauth_db_setting(const OAuthDb *db, const char *keyword);

/* ---------------------------------------------------------------------------
 * Synchronous: each function starts the operation and runs the db's loop
 * (sd_event_run) until it completes. For the CLI and doctor only: never call
 * one from inside a dispatch of that loop (-EDEADLK), nor while an operation
 * is running (-EBUSY). On a shared loop, other sources are dispatched
 * meanwhile. */

/* oauth_db_new with a private loop, then connects, so that an unreachable
 * or refusing server is reported here. */
int oauth_db_connect(const char *conninfo, const OAuthOptions *opts, OAuthDb **ret, OAuthError *err);

/* One transaction: upserts every spec, then deletes every id in delete_ids.
 * On success ret_changes (n_specs + n_delete entries, may be NULL when both
 * are 0) gets one OAuthChange per spec, then one per delete. On any failure
 * the transaction is rolled back, nothing was changed and ret_changes is not
 * written. Reconnects first if the connection was lost. */
int oauth_sync(OAuthDb *db, const OAuthClientSpec *specs, size_t n_specs, const char *const *delete_ids,
               size_t n_delete, OAuthChange *ret_changes, OAuthError *err);

/* Reads one row: returns 1 and *ret (free with oauth_client_free) when it
 * exists, 0 and *ret = NULL when it does not, or a negative errno. */
int oauth_get(OAuthDb *db, const char *id, OAuthClient **ret, OAuthError *err);
OAuthClient *oauth_client_free(OAuthClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(OAuthClient *, oauth_client_free);

/* The control plane's own check: 1 when row id exists and redirect_uri is
 * exactly one of its redirect_uris, 0 when not, or a negative errno. */
int oauth_redirect_uri_matches(OAuthDb *db, const char *id, const char *redirect_uri, OAuthError *err);

/* The server's system identifier: returns 1 and *ret (malloc'ed), or 0 and
 * *ret = NULL when the server refuses to tell; negative on error. */
int oauth_system_identifier(OAuthDb *db, char **ret, OAuthError *err);

/* The user new rows would be created_by: returns 1 and *ret_id (malloc'ed),
 * or 0 and *ret_id = NULL when no user has role 'admin'; negative on error. */
int oauth_admin_user(OAuthDb *db, char **ret_id, OAuthError *err);

/* A key=value conninfo with every value single-quoted and escaped. A NULL
 * argument leaves its keyword out; port 0 leaves it out too (libpq: 5432).
 * Returns a malloc'ed string, or NULL when out of memory. */
char *oauth_conninfo_build(const char *user, const char *password, const char *host, unsigned port,
                           const char *dbname);

/* "unchanged", "created", "updated", "deleted", "absent"; NULL when out of range. */
const char *oauth_change_to_string(OAuthChange c);
