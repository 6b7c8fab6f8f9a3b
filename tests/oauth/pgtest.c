/* SPDX-License-Identifier: Apache-2.0 */
/* See pgtest.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgtest.h"
#include "tests.h"

const OAuthClientSpec SANDBOX = { .id = "sandbox-service", .name = "Code Sandbox",
                                  .redirect_uri = "http://10.0.0.5:30086/api/auth/callback" };
const OAuthClientSpec BROWSER = { .id = "browser-service", .name = "Remote Browser",
                                  .redirect_uri = "http://10.0.0.5:30085/api/auth/callback" };

static PGconn *raw_conn;

const char *env(const char *name) {
        const char *v = getenv(name);
        if (!v || !*v) {
                fprintf(stderr, "%s is not set: run under tests/harness/with-harness.sh\n", name);
                exit(1); /* not a skip: a missing harness is a failure */
        }
        return v;
}

PGconn *raw(void) {
        if (!raw_conn) {
                raw_conn = PQconnectdb(env("DATABASE_URL"));
                if (PQstatus(raw_conn) != CONNECTION_OK)
                        TEST_FAIL("raw connection: %s", PQerrorMessage(raw_conn));
                PQclear(PQexec(raw_conn, "SET client_min_messages = warning"));
        }
        return raw_conn;
}

void sql(const char *s) {
        PGresult *res = PQexec(raw(), s);
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
                TEST_FAIL("%s: %s", s, PQresultErrorMessage(res));
        PQclear(res);
}

void superuser_sql(const char *s) {
        char conninfo[512];
        PGconn *c;
        PGresult *res;

        snprintf(conninfo, sizeof conninfo, "host='%s/pg/sock' port='%s' user=postgres dbname='%s'",
                 env("NAP_HARNESS_DIR"), env("PGPORT"), env("PGDATABASE"));
        c = PQconnectdb(conninfo);
        if (PQstatus(c) != CONNECTION_OK)
                TEST_FAIL("superuser connection: %s", PQerrorMessage(c));
        res = PQexec(c, s);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
                TEST_FAIL("%s: %s", s, PQresultErrorMessage(res));
        PQclear(res);
        PQfinish(c);
}

const char *sql_value(const char *s, const char *p1, const char *p2) {
        static char buf[4096];
        const char *params[] = { p1, p2 };
        int n = p2 ? 2 : p1 ? 1 : 0;
        PGresult *res = PQexecParams(raw(), s, n, NULL, params, NULL, NULL, 0);

        if (PQresultStatus(res) != PGRES_TUPLES_OK)
                TEST_FAIL("%s: %s", s, PQresultErrorMessage(res));
        if (PQntuples(res) == 0)
                snprintf(buf, sizeof buf, "(none)");
        else if (PQgetisnull(res, 0, 0))
                snprintf(buf, sizeof buf, "(null)");
        else
                snprintf(buf, sizeof buf, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        return buf;
}

char *row_state(const char *id) {
        char *s = strdup(sql_value("SELECT concat_ws('|', xmin::text, name, secret_hash, redirect_uris::text, "
                                   "created_by, created_at::text, description, homepage_url, updated_at::text) "
                                   "FROM oauth_clients WHERE id = $1",
                                   id, NULL));
        ASSERT_TRUE(s);
        return s;
}

void load_schema(void) {
        char buf[8192];
        FILE *f = fopen(NAP_OAUTH_SCHEMA, "re");
        size_t n;

        ASSERT_TRUE(f);
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        sql(buf);
}

void reset(bool with_admins) {
        sql("DROP TABLE IF EXISTS oauth_clients, users CASCADE");
        load_schema();
        sql("INSERT INTO users (id, email, role, created_at) VALUES "
            "('user-0', 'u0@example.org', 'user', '2019-01-01T00:00:00Z')");
        if (with_admins)
                sql("INSERT INTO users (id, email, role, created_at) VALUES "
                    "('admin-a', 'a@example.org', 'admin', '2021-01-01T00:00:00Z'), "
                    "('admin-b', 'b@example.org', 'admin', '2020-01-01T00:00:00Z')");
}

bool starts_with(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}
