/* SPDX-License-Identifier: Apache-2.0 */
/*
 * oauth_clients over libpq: connect with bounded timeouts, one transaction
 * per sync pass, parameterised statements only (no SQL is ever built from a
 * value), and every libpq/server failure translated here into a negative
 * errno plus a one-line message with the password redacted.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth.h"
#include "oauth-pq.h"
#include "util/log.h"
#include "util/strbuf.h"

#define DEFAULT_CONNECT_TIMEOUT_S 5
#define DEFAULT_STATEMENT_TIMEOUT_MS 5000

struct OAuthDb {
        bool pq_open; /* this connection holds libpq open */
        PGconn *conn;
        char *password; /* from conninfo, only to redact it from messages */
        unsigned statement_timeout_ms;
        /* TEMPORARY stopgap state */
        sd_event *event;
        sd_event_source *defer;
        OAuthClientSpec *specs;
        size_t n_specs;
        OAuthSyncDone cb;
        void *userdata;
};

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
        "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, redirect_uris = EXCLUDED.redirect_uris, "
        "updated_at = now() "
        "WHERE c.name IS DISTINCT FROM EXCLUDED.name OR c.redirect_uris IS DISTINCT FROM EXCLUDED.redirect_uris "
        "RETURNING (xmax = 0) AS inserted";
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

/* ---------------------------------------------------------------------------
 * Messages: one line, every occurrence of a secret replaced by <redacted>. */

static void redact_flatten(StrBuf *out, const char *msg, const char *const *secrets, size_t n_secrets) {
        bool space = false;

        for (const char *p = msg; *p;) {
                bool hit = false;

                for (size_t i = 0; i < n_secrets; i++) {
                        size_t l = secrets[i] ? strlen(secrets[i]) : 0;
                        if (l > 0 && strneq(p, secrets[i], l)) {
                                if (space)
                                        strbuf_putc(out, ' ');
                                space = false;
                                strbuf_puts(out, "<redacted>");
                                p += l;
                                hit = true;
                                break;
                        }
                }
                if (hit)
                        continue;
                if (strchr(" \t\r\n", *p)) {
                        space = out->len > 0;
                } else {
                        if (space)
                                strbuf_putc(out, ' ');
                        space = false;
                        strbuf_putc(out, *p);
                }
                p++;
        }
}

static void error_vset(OAuthError *err, const char *const *secrets, size_t n_secrets, const char *sqlstate,
                       const char *format, va_list ap) _printf_(5, 0);
static void error_vset(OAuthError *err, const char *const *secrets, size_t n_secrets, const char *sqlstate,
                       const char *format, va_list ap) {
        _cleanup_free_ char *raw = NULL;
        StrBuf b = { 0 };

        if (!err)
                return;
        snprintf(err->sqlstate, sizeof err->sqlstate, "%s", strempty(sqlstate) ? "" : sqlstate);
        if (vasprintf(&raw, format, ap) < 0) {
                raw = NULL;
                snprintf(err->message, sizeof err->message, "out of memory");
                return;
        }
        redact_flatten(&b, raw, secrets, n_secrets);
        if (b.oom || !b.s)
                snprintf(err->message, sizeof err->message, "%s", b.oom ? "out of memory" : "");
        else
                snprintf(err->message, sizeof err->message, "%s", b.s);
        strbuf_free(&b);
}

static void db_error(const OAuthDb *db, OAuthError *err, const char *sqlstate, const char *format, ...)
        _printf_(4, 5);
static void db_error(const OAuthDb *db, OAuthError *err, const char *sqlstate, const char *format, ...) {
        const char *secrets[2] = { db ? db->password : NULL, db && db->conn ? sym_PQpass(db->conn) : NULL };
        va_list ap;

        va_start(ap, format);
        error_vset(err, secrets, ELEMENTSOF(secrets), sqlstate, format, ap);
        va_end(ap);
}

static int oom(OAuthError *err) {
        if (err) {
                snprintf(err->message, sizeof err->message, "out of memory");
                err->sqlstate[0] = 0;
        }
        return -ENOMEM;
}

/* libpq's connection messages start with 'connection to server at "h", port p
 * failed: ' and may carry a "FATAL:  " prefix: keep only what follows. */
static const char *libpq_detail(const char *m) {
        const char *p;

        if (!m)
                return "";
        if (strneq(m, "connection to server", 20) && (p = strstr(m, "failed: ")))
                m = p + 8;
        if (strneq(m, "FATAL:", 6))
                m += 6;
        while (*m == ' ')
                m++;
        return m;
}

/* ---------------------------------------------------------------------------
 * Connecting */

static bool contains_any(const char *s, const char *const *needles, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strstr(s, needles[i]))
                        return true;
        return false;
}

/* Translates a failed connection. libpq gives no SQLSTATE for it, so this
 * reads its (client-side, untranslated unless NLS is set up) message. */
static int connect_error(OAuthDb *db, OAuthError *err) {
        static const char *const auth[] = { "authentication failed", "pg_hba.conf", "role \"" };
        static const char *const unreach[] = { "No route to host", "Network is unreachable",
                                               "could not translate host name", "Name or service not known",
                                               "Temporary failure in name resolution" };
        const char *m = sym_PQerrorMessage(db->conn), *d = libpq_detail(m);
        const char *host = strna(sym_PQhost(db->conn)), *port = strna(sym_PQport(db->conn));
        const char *user = strna(sym_PQuser(db->conn));

        if (sym_PQconnectionNeedsPassword(db->conn)) {
                db_error(db, err, NULL, "PostgreSQL rejected the credentials for user \"%s\": no password supplied",
                         user);
                return -EACCES;
        }
        if (contains_any(m, auth, ELEMENTSOF(auth))) {
                db_error(db, err, NULL, "PostgreSQL rejected the credentials for user \"%s\": %s", user, d);
                return -EACCES;
        }
        if (strstr(m, "database \"") && strstr(m, "does not exist")) {
                db_error(db, err, NULL, "PostgreSQL at %s:%s: %s", host, port, d);
                return -ENOENT;
        }
        if (strstr(m, "timeout expired")) {
                db_error(db, err, NULL, "cannot reach PostgreSQL at %s:%s: %s", host, port, d);
                return -ETIMEDOUT;
        }
        if (contains_any(m, unreach, ELEMENTSOF(unreach))) {
                db_error(db, err, NULL, "cannot reach PostgreSQL at %s:%s: %s", host, port, d);
                return -EHOSTUNREACH;
        }
        if (strstr(m, "Connection refused") || strstr(m, "No such file or directory")) {
                db_error(db, err, NULL, "cannot reach PostgreSQL at %s:%s: %s", host, port, d);
                return -ECONNREFUSED;
        }
        db_error(db, err, NULL, "cannot connect to PostgreSQL at %s:%s: %s", host, port, d);
        return -EIO;
}

static void notice_to_debug(void *userdata, const char *message) {
        log_debug("oauth: PostgreSQL: %s", message);
}

/* The parsed conninfo as keyword/value arrays for PQconnectdbParams, with our
 * settings replacing or extending the caller's. */
static int build_params(const PQconninfoOption *parsed, const OAuthOptions *opts, const char ***ret_keys,
                        const char ***ret_values, char **ret_options, char **ret_timeout) {
        _cleanup_free_ const char **keys = NULL, **values = NULL;
        _cleanup_free_ char *options = NULL, *timeout = NULL;
        const char *user_options = NULL;
        bool gssencmode = getenv("PGGSSENCMODE") != NULL;
        size_t n = 0, k = 0;

        for (const PQconninfoOption *o = parsed; o->keyword; o++)
                n++;
        keys = calloc(n + 6, sizeof *keys);
        values = calloc(n + 6, sizeof *values);
        if (!keys || !values)
                return -ENOMEM;
        for (const PQconninfoOption *o = parsed; o->keyword; o++) {
                if (!o->val)
                        continue;
                if (streq(o->keyword, "options")) {
                        user_options = o->val;
                        continue;
                }
                if (streq(o->keyword, "connect_timeout") || streq(o->keyword, "client_encoding"))
                        continue;
                if (streq(o->keyword, "gssencmode"))
                        gssencmode = true;
                keys[k] = o->keyword;
                values[k++] = o->val;
        }
        if (!user_options)
                user_options = getenv("PGOPTIONS"); /* which libpq would no longer read */
        if (asprintf(&options, "%s%s-c statement_timeout=%u", strempty(user_options) ? "" : user_options,
                     strempty(user_options) ? "" : " ", opts->statement_timeout_ms) < 0 ||
            asprintf(&timeout, "%u", opts->connect_timeout_s) < 0) {
                options = timeout = NULL;
                return -ENOMEM;
        }
        keys[k] = "options", values[k++] = options;
        keys[k] = "connect_timeout", values[k++] = timeout;
        keys[k] = "client_encoding", values[k++] = "UTF8";
        keys[k] = "fallback_application_name", values[k++] = "nap-agent";
        /* The agent signs in with a password. libpq's default (prefer) first
         * asks Kerberos for credentials on every connection, and the
         * per-thread state that leaves behind is lost when libpq is unloaded
         * between passes: opt out unless the operator asked for GSSAPI. */
        if (!gssencmode)
                keys[k] = "gssencmode", values[k++] = "disable";
        *ret_keys = TAKE_PTR(keys);
        *ret_values = TAKE_PTR(values);
        *ret_options = TAKE_PTR(options);
        *ret_timeout = TAKE_PTR(timeout);
        return 0;
}

static void conninfo_freep(PQconninfoOption **p) {
        if (*p)
                sym_PQconninfoFree(*p);
}

static int parse_conninfo(const char *conninfo, PQconninfoOption **ret, OAuthError *err) {
        char *errmsg = NULL;
        PQconninfoOption *parsed = sym_PQconninfoParse(strempty(conninfo) ? "" : conninfo, &errmsg);

        if (parsed) {
                *ret = parsed;
                return 0;
        }
        if (!errmsg)
                return oom(err);
        /* libpq may quote the rest of the string, which may hold the password. */
        if (strchr(conninfo, '@') || strcasestr(conninfo, "password"))
                db_error(NULL, err, NULL,
                         "invalid PostgreSQL connection string (details withheld: it holds a password)");
        else
                db_error(NULL, err, NULL, "invalid PostgreSQL connection string: %s", errmsg);
        sym_PQfreemem(errmsg);
        return -EINVAL;
}

int oauth_db_connect(const char *conninfo, const OAuthOptions *opts, OAuthDb **ret, OAuthError *err) {
        /* First declared, last freed: the others need libpq, which db holds open. */
        _cleanup_(oauth_db_freep) OAuthDb *db = NULL;
        _cleanup_(conninfo_freep) PQconninfoOption *parsed = NULL;
        _cleanup_free_ const char **keys = NULL, **values = NULL;
        _cleanup_free_ char *options = NULL, *timeout = NULL;
        char why[256];
        OAuthOptions o = {
                .connect_timeout_s = opts && opts->connect_timeout_s ? opts->connect_timeout_s
                                                                     : DEFAULT_CONNECT_TIMEOUT_S,
                .statement_timeout_ms = opts && opts->statement_timeout_ms ? opts->statement_timeout_ms
                                                                           : DEFAULT_STATEMENT_TIMEOUT_MS,
        };
        int r;

        if (!ret)
                return -EINVAL;
        db = calloc(1, sizeof *db);
        if (!db)
                return oom(err);
        r = dlib_open(&oauth_pq, why, sizeof why);
        if (r < 0) {
                db_error(NULL, err, NULL, "%s", why);
                return r;
        }
        db->pq_open = true;
        r = parse_conninfo(conninfo, &parsed, err);
        if (r < 0)
                return r;
        db->statement_timeout_ms = o.statement_timeout_ms;
        for (const PQconninfoOption *p = parsed; p->keyword; p++)
                if (streq(p->keyword, "password") && !strempty(p->val) && !(db->password = strdup(p->val)))
                        return oom(err);
        r = build_params(parsed, &o, &keys, &values, &options, &timeout);
        if (r < 0)
                return oom(err);

        db->conn = sym_PQconnectdbParams(keys, values, 0);
        if (!db->conn)
                return oom(err);
        sym_PQsetNoticeProcessor(db->conn, notice_to_debug, NULL);
        if (sym_PQstatus(db->conn) != CONNECTION_OK)
                return connect_error(db, err);
        log_debug("oauth: connected to PostgreSQL at %s:%s as '%s'", strna(sym_PQhost(db->conn)),
                  strna(sym_PQport(db->conn)), strna(sym_PQuser(db->conn)));
        *ret = TAKE_PTR(db);
        return 0;
}

OAuthDb *oauth_db_free(OAuthDb *db) {
        if (!db)
                return NULL;
        if (db->conn)
                sym_PQfinish(db->conn);
        if (db->password) {
                explicit_bzero(db->password, strlen(db->password));
                free(db->password);
        }
        if (db->pq_open)
                dlib_close(&oauth_pq);
        oauth_cancel(db);
        sd_event_unref(db->event);
        free(db);
        return NULL;
}

/* A lost connection (server restart, idle timeout) is re-established once. */
static int ensure_connected(OAuthDb *db, OAuthError *err) {
        if (sym_PQstatus(db->conn) == CONNECTION_OK)
                return 0;
        log_debug("oauth: connection to PostgreSQL lost, reconnecting");
        sym_PQreset(db->conn);
        if (sym_PQstatus(db->conn) != CONNECTION_OK)
                return connect_error(db, err);
        return 0;
}

/* ---------------------------------------------------------------------------
 * Statements */

/* The name inside the first pair of double quotes of s ("relation "x" does
 * not exist"), into buf; fallback when there is none. */
static const char *quoted_name(const char *s, char *buf, size_t size, const char *fallback) {
        const char *a = s ? strchr(s, '"') : NULL, *b = a ? strchr(a + 1, '"') : NULL;

        if (!b || b == a + 1)
                return fallback;
        snprintf(buf, size, "%.*s", (int) (b - a - 1), a + 1);
        return buf;
}

static int result_error(OAuthDb *db, const PGresult *res, OAuthError *err) {
        const char *state = res ? sym_PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *primary = res ? sym_PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        const char *detail = res ? sym_PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
        const char *column = res ? sym_PQresultErrorField(res, PG_DIAG_COLUMN_NAME) : NULL;
        char name[128];

        if (sym_PQstatus(db->conn) != CONNECTION_OK) {
                db_error(db, err, state, "lost the connection to PostgreSQL at %s:%s: %s", strna(sym_PQhost(db->conn)),
                         strna(sym_PQport(db->conn)), primary ? primary : libpq_detail(sym_PQerrorMessage(db->conn)));
                return -ECONNRESET;
        }
        if (!res)
                return oom(err);
        if (!state) {
                db_error(db, err, NULL, "PostgreSQL client error: %s", sym_PQresultErrorMessage(res));
                return -EIO;
        }
        if (streq(state, "42P01")) {
                db_error(db, err, state, "table %s does not exist: the control plane has not run its migrations yet",
                         quoted_name(primary, name, sizeof name, "oauth_clients"));
                return -ENOENT;
        }
        if (streq(state, "23502") && column && streq(column, "created_by")) {
                db_error(db, err, state, "no user with role 'admin' in table users: seed the platform admin first");
                return -ENODATA;
        }
        if (streq(state, "57014")) {
                db_error(db, err, state, "PostgreSQL cancelled the statement (statement_timeout %u ms): %s",
                         db->statement_timeout_ms, strna(primary));
                return -ETIMEDOUT;
        }
        db_error(db, err, state, "PostgreSQL: %s%s%s (SQLSTATE %s)", strna(primary), detail ? ": " : "",
                 detail ? detail : "", state);
        if (streq(state, "42501") || strneq(state, "28", 2))
                return -EACCES;
        if (streq(state, "40001") || streq(state, "40P01"))
                return -EAGAIN;
        if (strneq(state, "22", 2) || strneq(state, "23", 2))
                return -EINVAL;
        return -EIO;
}

/* Runs one parameterised statement (text parameters, text results). */
static int exec_params(OAuthDb *db, const char *sql, int n_params, const char *const *params, PGresult **ret,
                       OAuthError *err) {
        PGresult *res = sym_PQexecParams(db->conn, sql, n_params, NULL, params, NULL, NULL, 0);
        ExecStatusType s = res ? sym_PQresultStatus(res) : PGRES_FATAL_ERROR;
        int r;

        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
                r = result_error(db, res, err); /* res NULL: could not even send */
                sym_PQclear(res);
                return r;
        }
        if (ret)
                *ret = res;
        else
                sym_PQclear(res);
        return 0;
}

static void pqclearp(PGresult **p) {
        if (*p)
                sym_PQclear(*p);
}

static int upsert_one(OAuthDb *db, const OAuthClientSpec *s, OAuthChange *ret, OAuthError *err) {
        _cleanup_(pqclearp) PGresult *res = NULL;
        const char *params[] = { s->id, s->name, s->redirect_uri };
        int r;

        r = exec_params(db, SQL_UPSERT, 3, params, &res, err);
        if (r < 0)
                return r;
        if (sym_PQntuples(res) == 0)
                *ret = OAUTH_UNCHANGED;
        else
                *ret = streq(sym_PQgetvalue(res, 0, 0), "t") ? OAUTH_CREATED : OAUTH_UPDATED;
        log_debug("oauth: '%s' %s", s->id, oauth_change_to_string(*ret));
        return 0;
}

static int delete_one(OAuthDb *db, const char *id, OAuthChange *ret, OAuthError *err) {
        _cleanup_(pqclearp) PGresult *res = NULL;
        int r;

        r = exec_params(db, SQL_DELETE, 1, &id, &res, err);
        if (r < 0)
                return r;
        *ret = streq(sym_PQcmdTuples(res), "0") ? OAUTH_ABSENT : OAUTH_DELETED;
        log_debug("oauth: '%s' %s", id, oauth_change_to_string(*ret));
        return 0;
}

static int check_sync_args(const OAuthClientSpec *specs, size_t n_specs, const char *const *delete_ids,
                           size_t n_delete, OAuthError *err) {
        for (size_t i = 0; i < n_specs; i++)
                if (strempty(specs[i].id) || !specs[i].name || !specs[i].redirect_uri) {
                        db_error(NULL, err, NULL, "oauth client #%zu: id, name and redirect_uri are required", i);
                        return -EINVAL;
                }
        for (size_t i = 0; i < n_delete; i++) {
                if (strempty(delete_ids[i])) {
                        db_error(NULL, err, NULL, "oauth client to delete #%zu: empty id", i);
                        return -EINVAL;
                }
                for (size_t j = 0; j < n_specs; j++)
                        if (streq(delete_ids[i], specs[j].id)) {
                                db_error(NULL, err, NULL, "oauth client '%s' both registered and deleted",
                                         delete_ids[i]);
                                return -EINVAL;
                        }
        }
        return 0;
}

static int sync_in_transaction(OAuthDb *db, const OAuthClientSpec *specs, size_t n_specs,
                               const char *const *delete_ids, size_t n_delete, OAuthChange *changes,
                               OAuthError *err) {
        int r;

        r = exec_params(db, "BEGIN", 0, NULL, NULL, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_specs; i++) {
                r = upsert_one(db, &specs[i], &changes[i], err);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n_delete; i++) {
                r = delete_one(db, delete_ids[i], &changes[n_specs + i], err);
                if (r < 0)
                        return r;
        }
        return exec_params(db, "COMMIT", 0, NULL, NULL, err);
}

int oauth_sync(OAuthDb *db, const OAuthClientSpec *specs, size_t n_specs, const char *const *delete_ids,
               size_t n_delete, OAuthChange *ret_changes, OAuthError *err) {
        _cleanup_free_ OAuthChange *changes = NULL;
        int r;

        if (!db || (n_specs > 0 && !specs) || (n_delete > 0 && !delete_ids) ||
            (n_specs + n_delete > 0 && !ret_changes))
                return -EINVAL;
        r = check_sync_args(specs, n_specs, delete_ids, n_delete, err);
        if (r < 0)
                return r;
        if (n_specs + n_delete == 0)
                return 0;
        changes = calloc(n_specs + n_delete, sizeof *changes);
        if (!changes)
                return oom(err);
        r = ensure_connected(db, err);
        if (r < 0)
                return r;

        r = sync_in_transaction(db, specs, n_specs, delete_ids, n_delete, changes, err);
        if (r < 0) {
                if (sym_PQtransactionStatus(db->conn) != PQTRANS_IDLE)
                        sym_PQclear(sym_PQexec(db->conn, "ROLLBACK"));
                return r;
        }
        memcpy(ret_changes, changes, (n_specs + n_delete) * sizeof *changes);
        return 0;
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

        if (!db || !id || !ret)
                return -EINVAL;
        r = ensure_connected(db, err);
        if (r < 0)
                return r;
        r = exec_params(db, SQL_GET, 1, &id, &res, err);
        if (r < 0)
                return r;
        if (sym_PQntuples(res) == 0) {
                *ret = NULL;
                return 0;
        }
        if (client_from_result(res, &c) < 0)
                return oom(err);
        *ret = c;
        return 1;
}

int oauth_redirect_uri_matches(OAuthDb *db, const char *id, const char *redirect_uri, OAuthError *err) {
        _cleanup_(pqclearp) PGresult *res = NULL;
        const char *params[] = { id, redirect_uri };
        int r;

        if (!db || !id || !redirect_uri)
                return -EINVAL;
        r = ensure_connected(db, err);
        if (r < 0)
                return r;
        r = exec_params(db, SQL_MATCH, 2, params, &res, err);
        if (r < 0)
                return r;
        return sym_PQntuples(res) > 0;
}

int oauth_admin_user(OAuthDb *db, char **ret_id, OAuthError *err) {
        _cleanup_(pqclearp) PGresult *res = NULL;
        char *id;
        int r;

        if (!db || !ret_id)
                return -EINVAL;
        r = ensure_connected(db, err);
        if (r < 0)
                return r;
        r = exec_params(db, SQL_ADMIN, 0, NULL, &res, err);
        if (r < 0)
                return r;
        if (sym_PQntuples(res) == 0) {
                *ret_id = NULL;
                return 0;
        }
        id = strdup(sym_PQgetvalue(res, 0, 0));
        if (!id)
                return oom(err);
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

/* ---------------------------------------------------------------------------
 * TEMPORARY stopgap: runs the synchronous sync from a defer source. */

int oauth_db_new(const char *conninfo, const OAuthOptions *opts, sd_event *event, OAuthDb **ret, OAuthError *err) {
        OAuthDb *db = NULL;
        int r = oauth_db_connect(conninfo, opts, &db, err);

        if (r < 0)
                return r;
        db->event = event ? sd_event_ref(event) : NULL;
        *ret = db;
        return 0;
}

static int on_defer(sd_event_source *s, void *userdata) {
        OAuthDb *db = userdata;
        _cleanup_free_ OAuthChange *changes = calloc(db->n_specs + 1, sizeof *changes);
        OAuthError err = { 0 };
        OAuthSyncDone cb = db->cb;
        void *ud = db->userdata;
        int r;

        r = changes ? oauth_sync(db, db->specs, db->n_specs, NULL, 0, changes, &err) : -ENOMEM;
        oauth_cancel(db);
        cb(db, r, changes, &err, ud);
        return 0;
}

int oauth_sync_start(OAuthDb *db, const OAuthClientSpec *specs, size_t n_specs, const char *const *delete_ids,
                     size_t n_delete, OAuthSyncDone cb, void *userdata) {
        int r;

        if (db->defer)
                return -EBUSY;
        if (n_delete > 0)
                return -EOPNOTSUPP;
        db->specs = calloc(n_specs + 1, sizeof *db->specs);
        if (!db->specs)
                return -ENOMEM;
        memcpy(db->specs, specs, n_specs * sizeof *specs);
        db->n_specs = n_specs;
        db->cb = cb;
        db->userdata = userdata;
        r = sd_event_add_defer(db->event, &db->defer, on_defer, db);
        if (r < 0) {
                free(db->specs);
                db->specs = NULL;
        }
        return r;
}

void oauth_cancel(OAuthDb *db) {
        db->defer = sd_event_source_disable_unref(db->defer);
        free(db->specs);
        db->specs = NULL;
}

bool oauth_busy(const OAuthDb *db) {
        return db->defer;
}
