/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every libpq or server failure of the oauth module becomes a negative errno
 * and one line for the operator here (oauth.h lists them), with the
 * password replaced by <redacted> wherever it occurs, the server's own text
 * included.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth-internal.h"
#include "util/redact.h"
#include "util/strbuf.h"

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
        explicit_bzero(raw, strlen(raw));
        if (b.oom || !b.s)
                snprintf(err->message, sizeof err->message, "%s", b.oom ? "out of memory" : "");
        else {
                /* and the configuration's secrets (util/redact.h), before it is cut to size */
                _cleanup_free_ char *clean = redact(b.s);
                snprintf(err->message, sizeof err->message, "%s", clean ? clean : "out of memory");
        }
        strbuf_free(&b);
}

void oauth_error(const OAuthDb *db, OAuthError *err, const char *sqlstate, const char *format, ...) {
        const char *secrets[2] = { db ? db->password : NULL, db && db->conn ? sym_PQpass(db->conn) : NULL };
        va_list ap;

        assert(format);

        va_start(ap, format);
        error_vset(err, secrets, ELEMENTSOF(secrets), sqlstate, format, ap);
        va_end(ap);
}

int oauth_oom(OAuthError *err) {
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

static bool contains_any(const char *s, const char *const *needles, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strstr(s, needles[i]))
                        return true;
        return false;
}

/* Translates a failed connection. libpq gives no SQLSTATE for it, so this
 * reads its (client-side, untranslated unless NLS is set up) message. */
int oauth_connect_error(const OAuthDb *db, OAuthError *err) {
        static const char *const auth[] = { "authentication failed", "pg_hba.conf", "role \"" };
        static const char *const unreach[] = { "No route to host", "Network is unreachable",
                                               "could not translate host name", "Name or service not known",
                                               "Temporary failure in name resolution" };
        const char *m, *d, *host, *port, *user;

        assert(db);
        assert(db->conn);

        m = sym_PQerrorMessage(db->conn);
        d = libpq_detail(m);
        host = strna(sym_PQhost(db->conn));
        port = strna(sym_PQport(db->conn));
        user = strna(sym_PQuser(db->conn));
        if (sym_PQconnectionNeedsPassword(db->conn)) {
                oauth_error(db, err, NULL, "PostgreSQL rejected the credentials for user \"%s\": no password supplied",
                            user);
                return -EACCES;
        }
        if (contains_any(m, auth, ELEMENTSOF(auth))) {
                oauth_error(db, err, NULL, "PostgreSQL rejected the credentials for user \"%s\": %s", user, d);
                return -EACCES;
        }
        if (strstr(m, "database \"") && strstr(m, "does not exist")) {
                oauth_error(db, err, NULL, "PostgreSQL at %s:%s: %s", host, port, d);
                return -ENOENT;
        }
        if (strstr(m, "timeout expired")) {
                oauth_error(db, err, NULL, "cannot reach PostgreSQL at %s:%s: %s", host, port, d);
                return -ETIMEDOUT;
        }
        if (contains_any(m, unreach, ELEMENTSOF(unreach))) {
                oauth_error(db, err, NULL, "cannot reach PostgreSQL at %s:%s: %s", host, port, d);
                return -EHOSTUNREACH;
        }
        if (strstr(m, "Connection refused") || strstr(m, "No such file or directory")) {
                oauth_error(db, err, NULL, "cannot reach PostgreSQL at %s:%s: %s", host, port, d);
                return -ECONNREFUSED;
        }
        oauth_error(db, err, NULL, "cannot connect to PostgreSQL at %s:%s: %s", host, port, d);
        return -EIO;
}

/* The name inside the first pair of double quotes of s ("relation "x" does
 * not exist"), into buf; fallback when there is none. */
static const char *quoted_name(const char *s, char *buf, size_t size, const char *fallback) {
        const char *a = s ? strchr(s, '"') : NULL, *b = a ? strchr(a + 1, '"') : NULL;

        if (!b || b == a + 1)
                return fallback;
        snprintf(buf, size, "%.*s", (int) (b - a - 1), a + 1);
        return buf;
}

int oauth_result_error(const OAuthDb *db, const PGresult *res, OAuthError *err) {
        const char *state = res ? sym_PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *primary = res ? sym_PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        const char *detail = res ? sym_PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
        const char *column = res ? sym_PQresultErrorField(res, PG_DIAG_COLUMN_NAME) : NULL;
        char name[128];

        assert(db);

        if (sym_PQstatus(db->conn) != CONNECTION_OK) {
                oauth_error(db, err, state, "lost the connection to PostgreSQL at %s:%s: %s",
                            strna(sym_PQhost(db->conn)), strna(sym_PQport(db->conn)),
                            primary ? primary : libpq_detail(sym_PQerrorMessage(db->conn)));
                return -ECONNRESET;
        }
        if (!res) {
                oauth_error(db, err, NULL, "PostgreSQL client error: %s", libpq_detail(sym_PQerrorMessage(db->conn)));
                return -EIO;
        }
        if (!state) {
                oauth_error(db, err, NULL, "PostgreSQL client error: %s", sym_PQresultErrorMessage(res));
                return -EIO;
        }
        if (streq(state, "42P01")) {
                oauth_error(db, err, state, "table %s does not exist: the control plane has not run its migrations yet",
                            quoted_name(primary, name, sizeof name, "oauth_clients"));
                return -ENOENT;
        }
        if (streq(state, "23502") && column && streq(column, "created_by")) {
                oauth_error(db, err, state, "no user with role 'admin' in table users: seed the platform admin first");
                return -ENODATA;
        }
        if (streq(state, "57014")) {
                oauth_error(db, err, state, "PostgreSQL cancelled the statement (statement_timeout %ld ms): %s",
                            usec_to_ms_ceil(db->statement_timeout_usec), strna(primary));
                return -ETIMEDOUT;
        }
        oauth_error(db, err, state, "PostgreSQL: %s%s%s (SQLSTATE %s)", strna(primary), detail ? ": " : "",
                    detail ? detail : "", state);
        if (streq(state, "42501") || strneq(state, "28", 2))
                return -EACCES;
        if (streq(state, "40001") || streq(state, "40P01"))
                return -EAGAIN;
        if (strneq(state, "22", 2) || strneq(state, "23", 2))
                return -EINVAL;
        return -EIO;
}
