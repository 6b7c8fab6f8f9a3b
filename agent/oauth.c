/* SPDX-License-Identifier: Apache-2.0 */
/*
 * oauth_clients: the statements (parameterised only: no SQL is ever built
 * from a value) and what their results mean, the asynchronous sync
 * (oauth_sync_start), and the synchronous functions, which run the same
 * operations on the db's loop until they complete. The connection and the
 * machine that runs an operation are in oauth-conn.c and oauth-op.c; the
 * translation of failures in oauth-error.c.
 */
#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth-internal.h"
#include "oauth.h"
#include "util/log.h"
#include "util/strbuf.h"

/* The array a row's redirect_uris becomes: every element but the URIs the
 * agent registered before ($4, a JSON array), in order, the current one
 * ($3) kept where it is or else appended. An admin's URIs (and NULLs) stay. */
#define SQL_NEW_URIS                                                                                          \
        "(ARRAY(SELECT t.u FROM unnest(c.redirect_uris) WITH ORDINALITY AS t(u, n) "                          \
        "WHERE t.u IS NULL OR t.u = $3::text OR t.u <> ALL (ARRAY(SELECT jsonb_array_elements_text($4::jsonb))) " \
        "ORDER BY t.n) || CASE WHEN $3::text = ANY (c.redirect_uris) THEN '{}'::text[] ELSE ARRAY[$3::text] END)"

/* Inserts the client, or rewrites name/redirect_uris/updated_at of an existing
 * row only when one of them differs (zero rows back: unchanged). created_by
 * falls back to the existing row's own value so that an update needs no admin
 * (NOT NULL is checked before ON CONFLICT); with neither, the insert fails
 * with 23502 on created_by, which is "no admin". */
static const char SQL_UPSERT[] =
        "INSERT INTO oauth_clients AS c (id, name, secret_hash, redirect_uris, created_by) "
        "VALUES ($1, $2, NULL, ARRAY[$3::text], "
        "COALESCE((SELECT u.id FROM users u WHERE u.role = 'admin' ORDER BY u.created_at, u.id LIMIT 1), "
        "(SELECT o.created_by FROM oauth_clients o WHERE o.id = $1))) "
        "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, redirect_uris = " SQL_NEW_URIS ", "
        "updated_at = now() "
        "WHERE c.name IS DISTINCT FROM EXCLUDED.name OR c.redirect_uris IS DISTINCT FROM " SQL_NEW_URIS " "
        "RETURNING (xmax = 0) AS inserted";
/* Which server the rows go to. EXECUTE on pg_control_system() is PUBLIC by
 * default, but an administrator may revoke it: then the server refuses
 * (42501) and the sync goes on without it (OAuthStatement.may_refuse). */
static const char SQL_IDENTITY[] = "SELECT system_identifier::text FROM pg_control_system()";
static const char SQL_DELETE[] = "DELETE FROM oauth_clients WHERE id = $1";
static const char SQL_GET[] =
        "SELECT c.id, c.name, c.secret_hash IS NOT NULL, c.created_by, c.description, c.homepage_url, u.n, u.uri "
        "FROM oauth_clients c LEFT JOIN LATERAL unnest(c.redirect_uris) WITH ORDINALITY AS u(uri, n) ON true "
        "WHERE c.id = $1 ORDER BY u.n";
static const char SQL_MATCH[] = "SELECT 1 FROM oauth_clients WHERE id = $1 AND $2 = ANY(redirect_uris)";
static const char SQL_ADMIN[] = "SELECT id FROM users WHERE role = 'admin' ORDER BY created_at, id LIMIT 1";

static const char *const change_table[_OAUTH_CHANGE_MAX] = {
        [OAUTH_UNCHANGED] = "unchanged", [OAUTH_CREATED] = "created", [OAUTH_UPDATED] = "updated",
        [OAUTH_DELETED] = "deleted",     [OAUTH_ABSENT] = "absent",
};

const char *oauth_change_to_string(OAuthChange c) {
        if ((unsigned) c >= _OAUTH_CHANGE_MAX)
                return NULL;
        return change_table[c];
}

static void pqclearp(PGresult **p) {
        if (*p)
                sym_PQclear(*p);
        *p = NULL;
}

/* ---------------------------------------------------------------------------
 * The sync: BEGIN, one upsert per spec, one delete per id, COMMIT */

static int check_sync_args(const OAuthClientSpec *specs, size_t n_specs, const char *const *delete_ids,
                           size_t n_delete, OAuthError *err) {
        for (size_t i = 0; i < n_specs; i++) {
                bool owned_ok = specs[i].n_owned_uris == 0 || specs[i].owned_uris;
                for (size_t k = 0; owned_ok && k < specs[i].n_owned_uris; k++)
                        owned_ok = specs[i].owned_uris[k] != NULL;
                if (strempty(specs[i].id) || !specs[i].name || !specs[i].redirect_uri || !owned_ok) {
                        oauth_error(NULL, err, NULL, "oauth client #%zu: id, name and redirect_uri are required", i);
                        return -EINVAL;
                }
        }
        for (size_t i = 0; i < n_delete; i++) {
                if (strempty(delete_ids[i])) {
                        oauth_error(NULL, err, NULL, "oauth client to delete #%zu: empty id", i);
                        return -EINVAL;
                }
                for (size_t j = 0; j < n_specs; j++)
                        if (streq(delete_ids[i], specs[j].id)) {
                                oauth_error(NULL, err, NULL, "oauth client '%s' both registered and deleted",
                                            delete_ids[i]);
                                return -EINVAL;
                        }
        }
        return 0;
}

typedef struct SyncJob {
        OAuthDb *db;
        OAuthSyncDone cb;
        void *userdata;
        size_t n_specs, n_delete;
        OAuthChange *changes;
        char **strings; /* the copies the statements point into */
        size_t n_strings;
        OAuthStatement *stmts;
} SyncJob;

static void sync_job_free(void *p) {
        SyncJob *j = p;

        if (!j)
                return;
        for (size_t i = 0; i < j->n_strings; i++)
                free(j->strings[i]);
        free(j->strings);
        free(j->changes);
        free(j->stmts);
        free(j);
}

static const char *copy(SyncJob *j, const char *s) {
        char *c = strdup(s);

        if (c)
                j->strings[j->n_strings++] = c;
        return c;
}

/* The URIs registered before as a JSON array of strings (a parameter
 * whose text PostgreSQL parses: nothing to escape by hand). */
static const char *owned_json(SyncJob *j, const OAuthClientSpec *spec) {
        cJSON *arr = cJSON_CreateArray();
        char *s = NULL;
        bool ok = arr != NULL;

        for (size_t i = 0; ok && i < spec->n_owned_uris; i++)
                ok = cJSON_AddItemToArray(arr, cJSON_CreateString(spec->owned_uris[i]));
        if (ok)
                s = cJSON_PrintUnformatted(arr);
        cJSON_Delete(arr);
        if (s)
                j->strings[j->n_strings++] = s;
        return s;
}

/* Statement positions: the identity, BEGIN, the upserts, the deletes, COMMIT. */
#define SYNC_FIRST_CHANGE 2

/* The statements, each pointing into copies of the specs and ids. */
static int sync_job_fill(SyncJob *j, const OAuthClientSpec *specs, const char *const *delete_ids) {
        size_t n = j->n_specs + j->n_delete;

        j->changes = calloc(n, sizeof *j->changes);
        j->strings = calloc(4 * j->n_specs + j->n_delete, sizeof *j->strings);
        j->stmts = calloc(n + SYNC_FIRST_CHANGE + 1, sizeof *j->stmts);
        if (!j->changes || !j->strings || !j->stmts)
                return -ENOMEM;
        j->stmts[0] = (OAuthStatement) { .sql = SQL_IDENTITY, .may_refuse = true }; /* outside the transaction */
        j->stmts[1] = (OAuthStatement) { .sql = "BEGIN" };
        for (size_t i = 0; i < j->n_specs; i++) {
                OAuthStatement *st = &j->stmts[SYNC_FIRST_CHANGE + i];

                *st = (OAuthStatement) { .sql = SQL_UPSERT, .n_params = 4 };
                if (!(st->params[0] = copy(j, specs[i].id)) || !(st->params[1] = copy(j, specs[i].name)) ||
                    !(st->params[2] = copy(j, specs[i].redirect_uri)) || !(st->params[3] = owned_json(j, &specs[i])))
                        return -ENOMEM;
        }
        for (size_t i = 0; i < j->n_delete; i++) {
                OAuthStatement *st = &j->stmts[SYNC_FIRST_CHANGE + j->n_specs + i];

                *st = (OAuthStatement) { .sql = SQL_DELETE, .n_params = 1 };
                if (!(st->params[0] = copy(j, delete_ids[i])))
                        return -ENOMEM;
        }
        j->stmts[SYNC_FIRST_CHANGE + n] = (OAuthStatement) { .sql = "COMMIT" };
        return 0;
}

/* The identity's answer: the identifier, or the server's refusal. */
static int identity_result(const PGresult *res, char **ret) {
        *ret = NULL;
        if (sym_PQresultStatus(res) != PGRES_TUPLES_OK) {
                log_debug("oauth: the server does not tell its system identifier (%s): %s",
                          strna(sym_PQresultErrorField(res, PG_DIAG_SQLSTATE)),
                          strna(sym_PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)));
                return 0;
        }
        if (sym_PQntuples(res) != 1 || sym_PQgetisnull(res, 0, 0))
                return 0;
        *ret = strdup(sym_PQgetvalue(res, 0, 0));
        return *ret ? 1 : -ENOMEM;
}

/* Statement i's result: see SYNC_FIRST_CHANGE. */
static int sync_result(void *p, size_t i, PGresult *res, OAuthError *err) {
        SyncJob *j = p;
        OAuthChange *ch;
        size_t k = i - SYNC_FIRST_CHANGE;

        if (i == 0) {
                free(j->db->system_identifier);
                return identity_result(res, &j->db->system_identifier) < 0 ? oauth_oom(err) : 0;
        }
        if (i < SYNC_FIRST_CHANGE || k >= j->n_specs + j->n_delete)
                return 0;
        ch = &j->changes[k];
        if (k < j->n_specs)
                *ch = sym_PQntuples(res) == 0                   ? OAUTH_UNCHANGED
                      : streq(sym_PQgetvalue(res, 0, 0), "t") ? OAUTH_CREATED
                                                              : OAUTH_UPDATED;
        else
                *ch = streq(sym_PQcmdTuples(res), "0") ? OAUTH_ABSENT : OAUTH_DELETED;
        log_debug("oauth: '%s' %s", j->stmts[i].params[0], oauth_change_to_string(*ch));
        return 0;
}

static void sync_done(OAuthDb *db, void *p, int r, const OAuthError *err) {
        SyncJob *j = p;

        j->cb(db, r, r >= 0 && j->n_specs + j->n_delete > 0 ? j->changes : NULL, err, j->userdata);
}

static const OAuthOpHooks sync_hooks = { .result = sync_result, .done = sync_done, .free = sync_job_free };

int oauth_sync_start(OAuthDb *db, const OAuthClientSpec *specs, size_t n_specs, const char *const *delete_ids,
                     size_t n_delete, OAuthSyncDone cb, void *userdata) {
        SyncJob *j;
        OAuthError err = { 0 };
        int r;

        assert(db);
        assert(specs || n_specs == 0);
        assert(delete_ids || n_delete == 0);
        assert(cb);

        if (oauth_busy(db))
                return -EBUSY;
        j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        *j = (SyncJob) { .db = db, .cb = cb, .userdata = userdata, .n_specs = n_specs, .n_delete = n_delete };
        free(db->system_identifier); /* read again: the connection may go to another server now */
        db->system_identifier = NULL;
        /* Refusals come through cb too, with their message. */
        r = check_sync_args(specs, n_specs, delete_ids, n_delete, &err);
        if (r < 0 || n_specs + n_delete == 0)
                return oauth_op_start_done(db, r, &err, &sync_hooks, j);
        if (sync_job_fill(j, specs, delete_ids) < 0) {
                sync_job_free(j);
                return -ENOMEM;
        }
        return oauth_op_start(db, j->stmts, n_specs + n_delete + SYNC_FIRST_CHANGE + 1, &sync_hooks, j);
}

const char *oauth_db_system_identifier(const OAuthDb *db) {
        assert(db);

        return db->system_identifier;
}

/* ---------------------------------------------------------------------------
 * Synchronous: an operation, and the db's loop run until it is done */

typedef struct Waiter {
        bool done;
        int r;
        OAuthError err;
        PGresult *res;        /* a read's result */
        OAuthChange *changes; /* a sync's: where to copy them */
        size_t n_changes;
} Waiter;

static int wait_begin(OAuthDb *db, OAuthError *err) {
        if (sd_event_get_state(db->event) == SD_EVENT_RUNNING) {
                oauth_error(NULL, err, NULL, "synchronous database call from inside its event loop's dispatch");
                return -EDEADLK;
        }
        if (oauth_busy(db)) {
                oauth_error(NULL, err, NULL, "another database operation is running");
                return -EBUSY;
        }
        return 0;
}

static int wait_done(OAuthDb *db, Waiter *w, OAuthError *err) {
        int r;

        while (!w->done) {
                if (!oauth_busy(db)) { /* cancelled by someone else on a shared loop */
                        oauth_error(NULL, err, NULL, "the database operation was cancelled");
                        return -ECANCELED;
                }
                r = sd_event_run(db->event, UINT64_MAX);
                if (r < 0) {
                        oauth_cancel(db);
                        oauth_error(NULL, err, NULL, "event loop failed: %s", strerror(-r));
                        return r;
                }
        }
        if (w->r < 0 && err)
                *err = w->err;
        return w->r;
}

static void waiter_done(OAuthDb *db, void *p, int r, const OAuthError *err) {
        Waiter *w = p;

        w->done = true;
        w->r = r;
        if (err)
                w->err = *err;
}

static int waiter_keep(void *p, size_t i, PGresult *res, OAuthError *err) {
        Waiter *w = p;

        w->res = res;
        return 1;
}

static const OAuthOpHooks read_hooks = { .result = waiter_keep, .done = waiter_done };

int oauth_db_connect(const char *conninfo, const OAuthOptions *opts, OAuthDb **ret, OAuthError *err) {
        _cleanup_(oauth_db_freep) OAuthDb *db = NULL;
        Waiter w = { 0 };
        int r;

        assert(ret);

        r = oauth_db_new(conninfo, opts, NULL, &db, err);
        if (r < 0)
                return r;
        r = oauth_op_start(db, NULL, 0, &read_hooks, &w);
        if (r < 0)
                return oauth_oom(err);
        r = wait_done(db, &w, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(db);
        return 0;
}

static void sync_waiter_done(OAuthDb *db, int r, const OAuthChange *changes, const OAuthError *err,
                             void *userdata) {
        Waiter *w = userdata;

        if (r >= 0 && changes)
                memcpy(w->changes, changes, w->n_changes * sizeof *changes);
        waiter_done(db, w, r, err);
}

int oauth_sync(OAuthDb *db, const OAuthClientSpec *specs, size_t n_specs, const char *const *delete_ids,
               size_t n_delete, OAuthChange *ret_changes, OAuthError *err) {
        Waiter w = { .changes = ret_changes, .n_changes = n_specs + n_delete };
        int r;

        assert(db);
        assert(specs || n_specs == 0);
        assert(delete_ids || n_delete == 0);
        assert(ret_changes || n_specs + n_delete == 0);

        r = wait_begin(db, err);
        if (r < 0)
                return r;
        r = oauth_sync_start(db, specs, n_specs, delete_ids, n_delete, sync_waiter_done, &w);
        if (r < 0)
                return r == -ENOMEM ? oauth_oom(err) : r;
        return wait_done(db, &w, err);
}

/* Runs one statement; *ret gets its result. */
static int run_statement(OAuthDb *db, const OAuthStatement *st, PGresult **ret, OAuthError *err) {
        Waiter w = { 0 };
        int r;

        r = wait_begin(db, err);
        if (r < 0)
                return r;
        r = oauth_op_start(db, st, 1, &read_hooks, &w);
        if (r < 0)
                return oauth_oom(err);
        r = wait_done(db, &w, err);
        if (r < 0) {
                pqclearp(&w.res);
                return r;
        }
        *ret = w.res;
        return 0;
}

static int run_read(OAuthDb *db, const char *sql, int n_params, const char *const *params, PGresult **ret,
                    OAuthError *err) {
        OAuthStatement st = { .sql = sql, .n_params = n_params };

        for (int i = 0; i < n_params; i++)
                st.params[i] = params[i];
        return run_statement(db, &st, ret, err);
}

/* ---------------------------------------------------------------------------
 * Reading */

OAuthClient *oauth_client_free(OAuthClient *c) {
        if (!c)
                return NULL;
        free(c->id);
        free(c->name);
        for (size_t i = 0; c->redirect_uris && c->redirect_uris[i]; i++)
                free(c->redirect_uris[i]);
        free(c->redirect_uris);
        free(c->created_by);
        free(c->description);
        free(c->homepage_url);
        free(c);
        return NULL;
}

static int dup_field(const PGresult *res, int row, int col, char **ret) {
        if (sym_PQgetisnull(res, row, col)) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(sym_PQgetvalue(res, row, col));
        return *ret ? 0 : -ENOMEM;
}

/* Rows of SQL_GET: the client's columns repeated, one row per array element
 * (n, uri), or one row with n NULL for an empty array. */
static int client_from_result(const PGresult *res, OAuthClient **ret) {
        _cleanup_(oauth_client_freep) OAuthClient *c = NULL;
        int rows = sym_PQntuples(res);

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->redirect_uris = calloc((size_t) rows + 1, sizeof *c->redirect_uris);
        if (!c->redirect_uris)
                return -ENOMEM;
        if (dup_field(res, 0, 0, &c->id) < 0 || dup_field(res, 0, 1, &c->name) < 0 ||
            dup_field(res, 0, 3, &c->created_by) < 0 || dup_field(res, 0, 4, &c->description) < 0 ||
            dup_field(res, 0, 5, &c->homepage_url) < 0)
                return -ENOMEM;
        c->has_secret = streq(sym_PQgetvalue(res, 0, 2), "t");
        for (int i = 0; i < rows; i++) {
                if (sym_PQgetisnull(res, i, 6))
                        continue;
                c->redirect_uris[c->n_redirect_uris] = strdup(sym_PQgetvalue(res, i, 7)); /* NULL reads as "" */
                if (!c->redirect_uris[c->n_redirect_uris])
                        return -ENOMEM;
                c->n_redirect_uris++;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int oauth_get(OAuthDb *db, const char *id, OAuthClient **ret, OAuthError *err) {
        _cleanup_(pqclearp) PGresult *res = NULL;
        OAuthClient *c = NULL;
        int r;

        assert(db);
        assert(id);
        assert(ret);

        r = run_read(db, SQL_GET, 1, &id, &res, err);
        if (r < 0)
                return r;
        if (sym_PQntuples(res) == 0) {
                *ret = NULL;
                return 0;
        }
        if (client_from_result(res, &c) < 0)
                return oauth_oom(err);
        *ret = c;
        return 1;
}

int oauth_redirect_uri_matches(OAuthDb *db, const char *id, const char *redirect_uri, OAuthError *err) {
        _cleanup_(pqclearp) PGresult *res = NULL;
        const char *params[] = { id, redirect_uri };
        int r;

        assert(db);
        assert(id);
        assert(redirect_uri);

        r = run_read(db, SQL_MATCH, 2, params, &res, err);
        if (r < 0)
                return r;
        return sym_PQntuples(res) > 0;
}

int oauth_system_identifier(OAuthDb *db, char **ret, OAuthError *err) {
        static const OAuthStatement st = { .sql = SQL_IDENTITY, .may_refuse = true };
        _cleanup_(pqclearp) PGresult *res = NULL;
        int r;

        assert(db);
        assert(ret);

        r = run_statement(db, &st, &res, err);
        if (r < 0)
                return r;
        r = identity_result(res, ret);
        return r == -ENOMEM ? oauth_oom(err) : r;
}

int oauth_admin_user(OAuthDb *db, char **ret_id, OAuthError *err) {
        _cleanup_(pqclearp) PGresult *res = NULL;
        char *id;
        int r;

        assert(db);
        assert(ret_id);

        r = run_read(db, SQL_ADMIN, 0, NULL, &res, err);
        if (r < 0)
                return r;
        if (sym_PQntuples(res) == 0) {
                *ret_id = NULL;
                return 0;
        }
        id = strdup(sym_PQgetvalue(res, 0, 0));
        if (!id)
                return oauth_oom(err);
        *ret_id = id;
        return 1;
}

/* ---------------------------------------------------------------------------
 * Building a conninfo */

static void put_conninfo_value(StrBuf *b, const char *key, const char *value) {
        if (!value)
                return;
        if (b->len > 0)
                strbuf_putc(b, ' ');
        strbuf_printf(b, "%s='", key);
        for (const char *p = value; *p; p++) {
                if (*p == '\'' || *p == '\\')
                        strbuf_putc(b, '\\');
                strbuf_putc(b, *p);
        }
        strbuf_putc(b, '\'');
}

char *oauth_conninfo_build(const char *user, const char *password, const char *host, unsigned port,
                           const char *dbname) {
        StrBuf b = { 0 };
        char portbuf[16];

        put_conninfo_value(&b, "host", host);
        if (port > 0) {
                snprintf(portbuf, sizeof portbuf, "%u", port);
                put_conninfo_value(&b, "port", portbuf);
        }
        put_conninfo_value(&b, "dbname", dbname);
        put_conninfo_value(&b, "user", user);
        put_conninfo_value(&b, "password", password);
        return strbuf_steal(&b);
}
