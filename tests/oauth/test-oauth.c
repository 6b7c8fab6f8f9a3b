/* SPDX-License-Identifier: Apache-2.0 */
/*
 * oauth_clients against a real PostgreSQL: run by tests/harness/with-harness.sh
 * (HARNESS_COMPONENTS=pg), which exports DATABASE_URL and PG*. Each test
 * reloads schema.sql into the public schema and seeds its own users; the raw
 * libpq connection here plays the control plane (and a concurrent writer).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "oauth.h"
#include "pgtest.h"
#include "tests.h"

static OAuthDb *db_connect(void) {
        OAuthError err = { 0 };
        OAuthDb *db = NULL;
        int r = oauth_db_connect(env("DATABASE_URL"), NULL, &db, &err);
        if (r < 0)
                TEST_FAIL("oauth_db_connect: %s: %s", strerror(-r), err.message);
        return db;
}

static void sync_ok(OAuthDb *db, const OAuthClientSpec *specs, size_t n, const char *const *del, size_t n_del,
                    OAuthChange *changes) {
        OAuthError err = { 0 };
        int r = oauth_sync(db, specs, n, del, n_del, changes, &err);
        if (r < 0)
                TEST_FAIL("oauth_sync: %s: %s", strerror(-r), err.message);
}


TEST(conninfo_build) {
        const char *pw = "p'w \\x\" =;@/?";
        char *ci = oauth_conninfo_build("nap", pw, "10.43.0.7", 5432, "nap db");
        PQconninfoOption *o;
        char *errmsg = NULL;
        int seen = 0;

        ASSERT_TRUE(ci);
        ASSERT_STREQ(ci, "host='10.43.0.7' port='5432' dbname='nap db' user='nap' password='p\\'w \\\\x\" =;@/?'");
        o = PQconninfoParse(ci, &errmsg);
        ASSERT_TRUE(o);
        for (PQconninfoOption *p = o; p->keyword; p++) {
                if (strcmp(p->keyword, "password") == 0 && ++seen)
                        ASSERT_STREQ(p->val, pw);
                if (strcmp(p->keyword, "dbname") == 0 && ++seen)
                        ASSERT_STREQ(p->val, "nap db");
        }
        ASSERT_EQ(seen, 2);
        PQconninfoFree(o);
        free(ci);

        ci = oauth_conninfo_build(NULL, "", NULL, 0, NULL);
        ASSERT_STREQ(ci, "password=''");
        free(ci);
        ci = oauth_conninfo_build(NULL, NULL, NULL, 0, NULL);
        ASSERT_STREQ(ci, "");
        free(ci);

        /* And a real connection with one (what the ClusterIP path builds). */
        OAuthDb *db = NULL;
        OAuthError err = { 0 };
        ci = oauth_conninfo_build(env("PGUSER"), env("PGPASSWORD"), env("PGHOST"),
                                  (unsigned) atoi(env("PGPORT")), env("PGDATABASE"));
        ASSERT_TRUE(ci);
        ASSERT_OK(oauth_db_connect(ci, NULL, &db, &err));
        free(ci);
        oauth_db_free(db);
        ASSERT_NULL(oauth_db_free(NULL));
}

TEST(change_to_string) {
        ASSERT_STREQ(oauth_change_to_string(OAUTH_UNCHANGED), "unchanged");
        ASSERT_STREQ(oauth_change_to_string(OAUTH_CREATED), "created");
        ASSERT_STREQ(oauth_change_to_string(OAUTH_UPDATED), "updated");
        ASSERT_STREQ(oauth_change_to_string(OAUTH_DELETED), "deleted");
        ASSERT_STREQ(oauth_change_to_string(OAUTH_ABSENT), "absent");
        ASSERT_NULL(oauth_change_to_string(_OAUTH_CHANGE_MAX));
}

/* Runs first, on the harness's fresh database: no tables at all. */
TEST(table_missing) {
        OAuthDb *db = db_connect();
        OAuthError err = { 0 };
        OAuthChange ch[1] = { 99 };
        OAuthClient *c = (OAuthClient *) 1;

        sql("DROP TABLE IF EXISTS oauth_clients, users CASCADE");
        ASSERT_EQ(oauth_sync(db, &SANDBOX, 1, NULL, 0, ch, &err), -ENOENT);
        ASSERT_STREQ(err.message, "table oauth_clients does not exist: the control plane has not run its migrations yet");
        ASSERT_STREQ(err.sqlstate, "42P01");
        ASSERT_EQ(ch[0], 99);
        ASSERT_EQ(oauth_get(db, "sandbox-service", &c, &err), -ENOENT);
        ASSERT_TRUE(c == (OAuthClient *) 1);

        /* users missing only */
        sql("CREATE TABLE oauth_clients (id text PRIMARY KEY, name text NOT NULL, secret_hash text, "
            "redirect_uris text[] NOT NULL, created_by text NOT NULL)");
        ASSERT_EQ(oauth_sync(db, &SANDBOX, 1, NULL, 0, ch, &err), -ENOENT);
        ASSERT_STREQ(err.message, "table users does not exist: the control plane has not run its migrations yet");
        sql("DROP TABLE oauth_clients");
        oauth_db_free(db);
}

TEST(first_registration) {
        OAuthDb *db = db_connect();
        OAuthClientSpec specs[] = { SANDBOX, BROWSER };
        OAuthChange ch[2];
        OAuthError err = { 0 };
        OAuthClient *c = NULL;
        char *admin = NULL;

        reset(true);
        ASSERT_EQ(oauth_admin_user(db, &admin, &err), 1);
        ASSERT_STREQ(admin, "admin-b");
        free(admin);

        sync_ok(db, specs, 2, NULL, 0, ch);
        ASSERT_EQ(ch[0], OAUTH_CREATED);
        ASSERT_EQ(ch[1], OAUTH_CREATED);

        ASSERT_EQ(oauth_get(db, "sandbox-service", &c, &err), 1);
        ASSERT_STREQ(c->id, "sandbox-service");
        ASSERT_STREQ(c->name, "Code Sandbox");
        ASSERT_EQ(c->n_redirect_uris, 1);
        ASSERT_STREQ(c->redirect_uris[0], SANDBOX.redirect_uri);
        ASSERT_NULL(c->redirect_uris[1]);
        ASSERT_STREQ(c->created_by, "admin-b");
        ASSERT_TRUE(!c->has_secret);
        ASSERT_NULL(c->description);
        ASSERT_NULL(c->homepage_url);
        oauth_client_free(c);

        ASSERT_STREQ(sql_value("SELECT concat_ws('|', secret_hash IS NULL, cardinality(redirect_uris), created_by, "
                               "redirect_uris[1]) FROM oauth_clients WHERE id = $1",
                               "browser-service", NULL),
                     "t|1|admin-b|http://10.0.0.5:30085/api/auth/callback");
        ASSERT_STREQ(sql_value("SELECT count(*) FROM oauth_clients", NULL, NULL), "2");

        ASSERT_EQ(oauth_get(db, "no-such-client", &c, &err), 0);
        ASSERT_NULL(c);
        oauth_db_free(db);
}

TEST(rerun_writes_nothing) {
        OAuthDb *db = db_connect();
        OAuthClientSpec specs[] = { SANDBOX, BROWSER };
        OAuthChange ch[2];
        char *before_s, *before_b, *after_s, *after_b;

        reset(true);
        sync_ok(db, specs, 2, NULL, 0, ch);
        before_s = row_state("sandbox-service");
        before_b = row_state("browser-service");

        for (int i = 0; i < 3; i++) {
                ch[0] = ch[1] = 99;
                sync_ok(db, specs, 2, NULL, 0, ch);
                ASSERT_EQ(ch[0], OAUTH_UNCHANGED);
                ASSERT_EQ(ch[1], OAUTH_UNCHANGED);
        }
        /* Also from a new connection (a restarted daemon). */
        oauth_db_free(db);
        db = db_connect();
        sync_ok(db, specs, 2, NULL, 0, ch);
        ASSERT_EQ(ch[0], OAUTH_UNCHANGED);

        after_s = row_state("sandbox-service");
        after_b = row_state("browser-service");
        ASSERT_STREQ(after_s, before_s); /* xmin and updated_at included */
        ASSERT_STREQ(after_b, before_b);
        free(before_s), free(before_b), free(after_s), free(after_b);
        oauth_db_free(db);
}

TEST(changed_redirect_uri_updates_only_that) {
        OAuthDb *db = db_connect();
        OAuthClientSpec specs[] = { SANDBOX, BROWSER };
        OAuthChange ch[2];
        char *before_b, *created_s;
        char *after_b;

        reset(true);
        sync_ok(db, specs, 2, NULL, 0, ch);
        before_b = row_state("browser-service");
        created_s = strdup(sql_value("SELECT created_at::text FROM oauth_clients WHERE id = $1", SANDBOX.id, NULL));
        sql("SELECT pg_sleep(0.02)");

        specs[0].redirect_uri = "https://sandbox.example.org/api/auth/callback";
        specs[0].owned_uris = &SANDBOX.redirect_uri;
        specs[0].n_owned_uris = 1;
        sync_ok(db, specs, 2, NULL, 0, ch);
        ASSERT_EQ(ch[0], OAUTH_UPDATED);
        ASSERT_EQ(ch[1], OAUTH_UNCHANGED);

        ASSERT_STREQ(sql_value("SELECT redirect_uris::text FROM oauth_clients WHERE id = $1", SANDBOX.id, NULL),
                     "{https://sandbox.example.org/api/auth/callback}");
        ASSERT_STREQ(sql_value("SELECT concat_ws('|', name, created_by, created_at::text = $2, "
                               "updated_at > created_at) FROM oauth_clients WHERE id = $1",
                               SANDBOX.id, created_s),
                     "Code Sandbox|admin-b|t|t");
        after_b = row_state("browser-service");
        ASSERT_STREQ(after_b, before_b);

        /* A new name alone is a change too. */
        specs[1].name = "Remote Browser (beta)";
        sync_ok(db, specs, 2, NULL, 0, ch);
        ASSERT_EQ(ch[0], OAUTH_UNCHANGED);
        ASSERT_EQ(ch[1], OAUTH_UPDATED);
        ASSERT_STREQ(sql_value("SELECT concat_ws('|', name, redirect_uris[1]) FROM oauth_clients WHERE id = $1",
                               BROWSER.id, NULL),
                     "Remote Browser (beta)|http://10.0.0.5:30085/api/auth/callback");
        free(before_b), free(after_b), free(created_s);
        oauth_db_free(db);
}

TEST(delete_and_absent) {
        OAuthDb *db = db_connect();
        OAuthClientSpec specs[] = { SANDBOX, BROWSER };
        const char *del[] = { "browser-service" };
        OAuthChange ch[2];

        reset(true);
        sync_ok(db, specs, 2, NULL, 0, ch);

        sync_ok(db, specs, 1, del, 1, ch);
        ASSERT_EQ(ch[0], OAUTH_UNCHANGED);
        ASSERT_EQ(ch[1], OAUTH_DELETED);
        ASSERT_STREQ(sql_value("SELECT string_agg(id, ',') FROM oauth_clients", NULL, NULL), "sandbox-service");

        sync_ok(db, specs, 1, del, 1, ch);
        ASSERT_EQ(ch[0], OAUTH_UNCHANGED);
        ASSERT_EQ(ch[1], OAUTH_ABSENT);

        /* Deletes alone, and nothing at all. */
        const char *del2[] = { "sandbox-service", "browser-service" };
        sync_ok(db, NULL, 0, del2, 2, ch);
        ASSERT_EQ(ch[0], OAUTH_DELETED);
        ASSERT_EQ(ch[1], OAUTH_ABSENT);
        ASSERT_STREQ(sql_value("SELECT count(*) FROM oauth_clients", NULL, NULL), "0");
        sync_ok(db, NULL, 0, NULL, 0, NULL);
        oauth_db_free(db);
}

TEST(values_stored_verbatim) {
        static const char *const uris[] = {
                "http://h/'); DROP TABLE users;--",
                "http://h/cb?a=\"q\"&b='s'",
                "http://h/back\\slash\\\\two",
                "http://h/a,b,c",
                "http://h/{braces}/{a,b}",
                "{http://h/x,http://h/y}",
                "NULL",
                "",
                " leading and trailing spaces ",
                "https://例え.テスト/ü/callback/\xF0\x9F\x98\x80",
        };
        OAuthDb *db = db_connect();
        OAuthError err = { 0 };
        OAuthChange ch[1];
        OAuthClient *c = NULL;

        reset(true);
        for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
                /* The URI registered before is taken out: as JSON text, it survives every quote and brace. */
                OAuthClientSpec s = { .id = "sandbox-service", .name = "Name with 'quotes', \\ and {braces} ✓",
                                      .redirect_uri = uris[i], .owned_uris = i ? &uris[i - 1] : NULL,
                                      .n_owned_uris = i ? 1 : 0 };

                sync_ok(db, &s, 1, NULL, 0, ch);
                ASSERT_EQ(ch[0], i == 0 ? OAUTH_CREATED : OAUTH_UPDATED);
                sync_ok(db, &s, 1, NULL, 0, ch);
                ASSERT_EQ(ch[0], OAUTH_UNCHANGED);

                ASSERT_EQ(oauth_get(db, s.id, &c, &err), 1);
                ASSERT_EQ(c->n_redirect_uris, 1);
                ASSERT_STREQ(c->redirect_uris[0], uris[i]);
                ASSERT_STREQ(c->name, s.name);
                oauth_client_free(c);
                ASSERT_STREQ(sql_value("SELECT concat_ws('|', cardinality(redirect_uris), redirect_uris[1] = $2) "
                                       "FROM oauth_clients WHERE id = $1",
                                       s.id, uris[i]),
                             "1|t");
                ASSERT_EQ(oauth_redirect_uri_matches(db, s.id, uris[i], &err), 1);
        }
        ASSERT_STREQ(sql_value("SELECT to_regclass('users') IS NOT NULL", NULL, NULL), "t");
        ASSERT_STREQ(sql_value("SELECT count(*) FROM users", NULL, NULL), "3");
        oauth_db_free(db);
}

TEST(control_plane_redirect_check) {
        OAuthDb *db = db_connect();
        OAuthError err = { 0 };
        OAuthChange ch[1];
        const char *check = "SELECT count(*) FROM oauth_clients WHERE id = $1 AND $2 = ANY(redirect_uris)";
        char with_slash[256];

        reset(true);
        sync_ok(db, &SANDBOX, 1, NULL, 0, ch);
        snprintf(with_slash, sizeof with_slash, "%s/", SANDBOX.redirect_uri);

        ASSERT_STREQ(sql_value(check, SANDBOX.id, SANDBOX.redirect_uri), "1");
        ASSERT_STREQ(sql_value(check, SANDBOX.id, with_slash), "0");
        ASSERT_STREQ(sql_value(check, SANDBOX.id, "HTTP://10.0.0.5:30086/api/auth/callback"), "0");
        ASSERT_STREQ(sql_value(check, BROWSER.id, SANDBOX.redirect_uri), "0");

        ASSERT_EQ(oauth_redirect_uri_matches(db, SANDBOX.id, SANDBOX.redirect_uri, &err), 1);
        ASSERT_EQ(oauth_redirect_uri_matches(db, SANDBOX.id, with_slash, &err), 0);
        ASSERT_EQ(oauth_redirect_uri_matches(db, BROWSER.id, SANDBOX.redirect_uri, &err), 0);
        oauth_db_free(db);
}

TEST(foreign_row_keeps_its_owner) {
        OAuthDb *db = db_connect();
        OAuthError err = { 0 };
        OAuthChange ch[1];
        OAuthClient *c = NULL;

        reset(true);
        sql("INSERT INTO oauth_clients (id, name, secret_hash, redirect_uris, created_by, created_at, description, "
            "homepage_url, updated_at) VALUES ('sandbox-service', 'Old name', 'hash', "
            "ARRAY['http://old/cb', 'http://old2/cb'], 'user-0', '2019-06-01T00:00:00Z', 'by hand', "
            "'http://home', '2019-06-01T00:00:00Z')");
        sync_ok(db, &SANDBOX, 1, NULL, 0, ch);
        ASSERT_EQ(ch[0], OAUTH_UPDATED);

        ASSERT_EQ(oauth_get(db, SANDBOX.id, &c, &err), 1);
        ASSERT_STREQ(c->created_by, "user-0");
        ASSERT_STREQ(c->description, "by hand");
        ASSERT_STREQ(c->homepage_url, "http://home");
        ASSERT_TRUE(c->has_secret);
        ASSERT_STREQ(c->name, "Code Sandbox");
        /* URIs the agent did not register stay, in their places. */
        ASSERT_EQ(c->n_redirect_uris, 3);
        ASSERT_STREQ(c->redirect_uris[0], "http://old/cb");
        ASSERT_STREQ(c->redirect_uris[1], "http://old2/cb");
        ASSERT_STREQ(c->redirect_uris[2], SANDBOX.redirect_uri);
        oauth_client_free(c);
        ASSERT_STREQ(sql_value("SELECT concat_ws('|', secret_hash, created_at = '2019-06-01T00:00:00Z', "
                               "updated_at > '2020-01-01') FROM oauth_clients WHERE id = $1",
                               SANDBOX.id, NULL),
                     "hash|t|t");
        oauth_db_free(db);
}

/* Item 5 of issue 19: the agent owns the URIs it registered, not the array. */
TEST(admin_uris_kept) {
        OAuthDb *db = db_connect();
        OAuthChange ch[1];
        char *before, *after;

        reset(true);
        sync_ok(db, &SANDBOX, 1, NULL, 0, ch);
        sql("UPDATE oauth_clients SET redirect_uris = ARRAY['https://admin.example/cb'] || redirect_uris || "
            "ARRAY[NULL, 'https://admin2.example/cb'] WHERE id = 'sandbox-service'");
        before = row_state("sandbox-service");

        /* A resync of the same URI writes nothing (xmin, updated_at), the admin's stay. */
        OAuthClientSpec s = SANDBOX;
        s.owned_uris = &SANDBOX.redirect_uri;
        s.n_owned_uris = 1;
        for (int i = 0; i < 2; i++) {
                sync_ok(db, &s, 1, NULL, 0, ch);
                ASSERT_EQ(ch[0], OAUTH_UNCHANGED);
        }
        after = row_state("sandbox-service");
        ASSERT_STREQ(after, before);
        free(after);

        /* A new URI: the old one taken out, the new one appended, the admin's in place. */
        s.redirect_uri = "https://sandbox.example.org/api/auth/callback";
        sync_ok(db, &s, 1, NULL, 0, ch);
        ASSERT_EQ(ch[0], OAUTH_UPDATED);
        ASSERT_STREQ(sql_value("SELECT redirect_uris::text FROM oauth_clients WHERE id = $1", SANDBOX.id, NULL),
                     "{https://admin.example/cb,NULL,https://admin2.example/cb,"
                     "https://sandbox.example.org/api/auth/callback}");

        /* Several owned (one of them a write whose answer was lost) go at once;
         * the current one stays where it is, once. */
        const char *owned[] = { "https://sandbox.example.org/api/auth/callback", "http://lost/cb", "http://never/cb" };
        sql("UPDATE oauth_clients SET redirect_uris = ARRAY['http://lost/cb', 'https://admin.example/cb', "
            "'http://10.0.0.5:30086/api/auth/callback'] WHERE id = 'sandbox-service'");
        OAuthClientSpec t = SANDBOX;
        t.owned_uris = owned;
        t.n_owned_uris = 3;
        sync_ok(db, &t, 1, NULL, 0, ch);
        ASSERT_EQ(ch[0], OAUTH_UPDATED);
        ASSERT_STREQ(sql_value("SELECT redirect_uris::text FROM oauth_clients WHERE id = $1", SANDBOX.id, NULL),
                     "{https://admin.example/cb,http://10.0.0.5:30086/api/auth/callback}");
        free(before);
        before = row_state("sandbox-service");
        sync_ok(db, &t, 1, NULL, 0, ch);
        ASSERT_EQ(ch[0], OAUTH_UNCHANGED);
        after = row_state("sandbox-service");
        ASSERT_STREQ(after, before);
        free(before), free(after);
        oauth_db_free(db);
}

/* Item 4 of issue 19: which server the rows went to. */
TEST(system_identifier) {
        OAuthDb *db = db_connect();
        OAuthError err = { 0 };
        OAuthChange ch[1];
        char *id = NULL, *want;
        char *host = NULL, *port = NULL, *name = NULL;

        reset(true);
        ASSERT_NULL(oauth_db_system_identifier(db));
        want = strdup(sql_value("SELECT system_identifier::text FROM pg_control_system()", NULL, NULL));
        sync_ok(db, &SANDBOX, 1, NULL, 0, ch);
        ASSERT_STREQ(oauth_db_system_identifier(db), want);
        ASSERT_EQ(oauth_system_identifier(db, &id, &err), 1);
        ASSERT_STREQ(id, want);
        free(id);
        ASSERT_OK(oauth_db_target(db, &host, &port, &name));
        ASSERT_STREQ(host, "127.0.0.1");
        ASSERT_STREQ(port, env("PGPORT"));
        ASSERT_STREQ(name, "nap");
        free(host), free(port), free(name);

        /* Refused (EXECUTE revoked, as a hardened server may have it): the sync goes on without it. */
        superuser_sql("REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC");
        OAuthClientSpec s = SANDBOX;
        s.name = "Renamed while refused";
        ch[0] = 99;
        int r = oauth_sync(db, &s, 1, NULL, 0, ch, &err);
        superuser_sql("GRANT EXECUTE ON FUNCTION pg_control_system() TO PUBLIC");
        if (r < 0)
                TEST_FAIL("oauth_sync with pg_control_system() refused: %s", err.message);
        ASSERT_EQ(ch[0], OAUTH_UPDATED);
        ASSERT_NULL(oauth_db_system_identifier(db));
        superuser_sql("REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC");
        id = (char *) 1;
        r = oauth_system_identifier(db, &id, &err);
        superuser_sql("GRANT EXECUTE ON FUNCTION pg_control_system() TO PUBLIC");
        ASSERT_EQ(r, 0);
        ASSERT_NULL(id);
        free(want);
        oauth_db_free(db);
}

TEST(target_from_conninfo) {
        static const struct {
                const char *conninfo, *host, *port, *name;
        } cases[] = {
                { "postgresql://u:pw@db.example:6543/appdb?sslmode=disable", "db.example", "6543", "appdb" },
                { "host=10.43.0.7 port=5432 dbname='nap db' user=nap password=x", "10.43.0.7", "5432", "nap db" },
                { "postgresql://u@h1:1,h2:2/d", "h1,h2", "1,2", "d" },
                { "hostaddr=192.0.2.1 user=only", "192.0.2.1", "5432", "only" },
                { "postgresql://[::1]/x", "::1", "5432", "x" },
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                OAuthDb *db = NULL;
                OAuthError err = { 0 };
                char *host = NULL, *port = NULL, *name = NULL;

                /* PG* of the harness would fill in what the conninfo leaves out. */
                const char *saved[] = { getenv("PGHOST"), getenv("PGPORT"), getenv("PGDATABASE"), getenv("PGUSER") };
                char *copies[4];
                for (int k = 0; k < 4; k++)
                        copies[k] = saved[k] ? strdup(saved[k]) : NULL;
                unsetenv("PGHOST"), unsetenv("PGPORT"), unsetenv("PGDATABASE"), unsetenv("PGUSER");
                ASSERT_OK(oauth_db_new(cases[i].conninfo, NULL, NULL, &db, &err));
                ASSERT_OK(oauth_db_target(db, &host, &port, &name));
                setenv("PGHOST", copies[0], 1), setenv("PGPORT", copies[1], 1), setenv("PGDATABASE", copies[2], 1),
                        setenv("PGUSER", copies[3], 1);
                for (int k = 0; k < 4; k++)
                        free(copies[k]);
                ASSERT_STREQ(host, cases[i].host);
                ASSERT_STREQ(port, cases[i].port);
                ASSERT_STREQ(name, cases[i].name);
                free(host), free(port), free(name);
                oauth_db_free(db);
        }
}

TEST(get_reads_arrays) {
        OAuthDb *db = db_connect();
        OAuthError err = { 0 };
        OAuthClient *c = NULL;

        reset(true);
        sql("INSERT INTO oauth_clients (id, name, redirect_uris, created_by) VALUES "
            "('empty', 'E', '{}', 'admin-a'), ('three', 'T', ARRAY['a', NULL, 'c,\"d\"'], 'admin-a')");
        ASSERT_EQ(oauth_get(db, "empty", &c, &err), 1);
        ASSERT_EQ(c->n_redirect_uris, 0);
        ASSERT_NULL(c->redirect_uris[0]);
        oauth_client_free(c);
        ASSERT_EQ(oauth_get(db, "three", &c, &err), 1);
        ASSERT_EQ(c->n_redirect_uris, 3);
        ASSERT_STREQ(c->redirect_uris[0], "a");
        ASSERT_STREQ(c->redirect_uris[1], "");
        ASSERT_STREQ(c->redirect_uris[2], "c,\"d\"");
        oauth_client_free(c);
        oauth_db_free(db);
}

TEST(unreachable) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof sa;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        char conninfo[256], want[128];
        OAuthError err = { 0 };
        OAuthDb *db = (OAuthDb *) 1;
        unsigned port;

        /* Bound but not listening: the port is ours, and closed. */
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        ASSERT_EQ(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        port = ntohs(sa.sin_port);
        snprintf(conninfo, sizeof conninfo, "postgresql://nap:Unreach4ble-pw@127.0.0.1:%u/nap", port);

        ASSERT_EQ(oauth_db_connect(conninfo, NULL, &db, &err), -ECONNREFUSED);
        ASSERT_TRUE(db == (OAuthDb *) 1);
        snprintf(want, sizeof want, "cannot reach PostgreSQL at 127.0.0.1:%u: ", port);
        if (!starts_with(err.message, want))
                TEST_FAIL("unexpected message: %s", err.message);
        ASSERT_TRUE(strstr(err.message, "Connection refused"));
        ASSERT_NULL(strstr(err.message, "Unreach4ble-pw"));
        ASSERT_NULL(strchr(err.message, '\n'));
        close(fd);
}

TEST(auth_failed) {
        char conninfo[256];
        OAuthError err = { 0 };
        OAuthDb *db = NULL;
        const char *port = env("PGPORT");

        snprintf(conninfo, sizeof conninfo, "postgresql://nap:Wr0ng-S3cret-pw@127.0.0.1:%s/nap", port);
        ASSERT_EQ(oauth_db_connect(conninfo, NULL, &db, &err), -EACCES);
        ASSERT_NULL(db);
        if (!starts_with(err.message, "PostgreSQL rejected the credentials for user \"nap\""))
                TEST_FAIL("unexpected message: %s", err.message);
        ASSERT_NULL(strstr(err.message, "Wr0ng-S3cret-pw"));

        /* Same in key=value form. */
        snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%s dbname=nap user=nap password='Wr0ng-S3cret-pw'",
                 port);
        ASSERT_EQ(oauth_db_connect(conninfo, NULL, &db, &err), -EACCES);
        ASSERT_NULL(strstr(err.message, "Wr0ng-S3cret-pw"));

        /* A password that occurs in the server's own text is redacted there. */
        snprintf(conninfo, sizeof conninfo, "postgresql://nap:authentication@127.0.0.1:%s/nap", port);
        ASSERT_EQ(oauth_db_connect(conninfo, NULL, &db, &err), -EACCES);
        ASSERT_TRUE(strstr(err.message, "<redacted>"));
        ASSERT_NULL(strstr(err.message, "authentication"));

        /* An unparsable conninfo that holds a password is not echoed. */
        ASSERT_EQ(oauth_db_connect("postgresql://nap:S3cret@[::1/nap", NULL, &db, &err), -EINVAL);
        ASSERT_NULL(strstr(err.message, "S3cret"));
        ASSERT_EQ(oauth_db_connect("host=127.0.0.1 port", NULL, &db, &err), -EINVAL);
        if (!starts_with(err.message, "invalid PostgreSQL connection string: "))
                TEST_FAIL("unexpected message: %s", err.message);
}

TEST(no_admin) {
        OAuthDb *db = db_connect();
        OAuthError err = { 0 };
        OAuthChange ch[1] = { 99 };
        char *admin = (char *) 1;

        reset(false);
        ASSERT_EQ(oauth_admin_user(db, &admin, &err), 0);
        ASSERT_NULL(admin);
        ASSERT_EQ(oauth_sync(db, &SANDBOX, 1, NULL, 0, ch, &err), -ENODATA);
        ASSERT_STREQ(err.message, "no user with role 'admin' in table users: seed the platform admin first");
        ASSERT_EQ(ch[0], 99);

        /* Empty users table: the same. */
        sql("DELETE FROM users");
        ASSERT_EQ(oauth_sync(db, &SANDBOX, 1, NULL, 0, ch, &err), -ENODATA);
        ASSERT_STREQ(err.message, "no user with role 'admin' in table users: seed the platform admin first");

        /* Only an insert needs one: existing rows are updated, or left alone, without. */
        reset(true);
        sync_ok(db, &SANDBOX, 1, NULL, 0, ch);
        sql("UPDATE users SET role = 'user'");
        sync_ok(db, &SANDBOX, 1, NULL, 0, ch);
        ASSERT_EQ(ch[0], OAUTH_UNCHANGED);
        OAuthClientSpec s = SANDBOX;
        s.redirect_uri = "https://new.example.org/api/auth/callback";
        sync_ok(db, &s, 1, NULL, 0, ch);
        ASSERT_EQ(ch[0], OAUTH_UPDATED);
        ASSERT_STREQ(sql_value("SELECT created_by FROM oauth_clients WHERE id = $1", s.id, NULL), "admin-b");
        oauth_db_free(db);
}

TEST(failure_half_way_rolls_back) {
        OAuthDb *db = db_connect();
        OAuthClientSpec specs[] = { SANDBOX, BROWSER };
        const char *del[] = { "other-client" };
        OAuthError err = { 0 };
        OAuthChange ch[3] = { 99, 99, 99 };
        char *before, *after;

        reset(true);
        sync_ok(db, &SANDBOX, 1, NULL, 0, ch);
        sql("INSERT INTO oauth_clients (id, name, redirect_uris, created_by) VALUES "
            "('other-client', 'O', ARRAY['http://o/cb'], 'admin-a')");
        before = row_state("sandbox-service");
        sql("UPDATE users SET role = 'user'");

        /* The first spec would update, the second must insert and cannot. */
        specs[0].redirect_uri = "https://changed.example.org/api/auth/callback";
        ch[0] = ch[1] = ch[2] = 99;
        ASSERT_EQ(oauth_sync(db, specs, 2, del, 1, ch, &err), -ENODATA);
        ASSERT_EQ(ch[0], 99);
        after = row_state("sandbox-service");
        ASSERT_STREQ(after, before);
        ASSERT_STREQ(sql_value("SELECT string_agg(id, ',' ORDER BY id) FROM oauth_clients", NULL, NULL),
                     "other-client,sandbox-service");

        /* A constraint the server enforces, failing on the second spec. */
        sql("UPDATE users SET role = 'admin' WHERE id = 'admin-a'");
        sql("ALTER TABLE oauth_clients ADD CONSTRAINT no_plain_http CHECK (id <> 'browser-service' OR "
            "redirect_uris[1] LIKE 'https://%')");
        ASSERT_EQ(oauth_sync(db, specs, 2, del, 1, ch, &err), -EINVAL);
        ASSERT_STREQ(err.sqlstate, "23514");
        ASSERT_TRUE(strstr(err.message, "no_plain_http"));
        free(after);
        after = row_state("sandbox-service");
        ASSERT_STREQ(after, before);
        ASSERT_STREQ(sql_value("SELECT count(*) FROM oauth_clients", NULL, NULL), "2");

        /* The handle is usable again after the rollback. */
        specs[1].redirect_uri = "https://browser.example.org/api/auth/callback";
        sync_ok(db, specs, 2, del, 1, ch);
        ASSERT_EQ(ch[0], OAUTH_UPDATED);
        ASSERT_EQ(ch[1], OAUTH_CREATED);
        ASSERT_EQ(ch[2], OAUTH_DELETED);
        ASSERT_STREQ(sql_value("SELECT created_by FROM oauth_clients WHERE id = $1", BROWSER.id, NULL), "admin-a");
        free(before), free(after);
        oauth_db_free(db);
}

TEST(options_kept_and_statement_timeout) {
        OAuthOptions opts = { .statement_timeout_usec = 300 * USEC_PER_MSEC };
        char url[1024];
        OAuthError err = { 0 };
        OAuthChange ch[1];
        OAuthDb *db = NULL;
        struct timespec t0, t1;
        double secs;

        reset(true);
        sql("DROP SCHEMA IF EXISTS alt CASCADE; CREATE SCHEMA alt; SET search_path = alt");
        load_schema();
        sql("INSERT INTO users (id, email, role) VALUES ('alt-admin', 'x@example.org', 'admin'); "
            "SET search_path = public");

        /* The caller's options (search_path) survive next to statement_timeout. */
        snprintf(url, sizeof url, "%s?options=-c%%20search_path%%3Dalt", env("DATABASE_URL"));
        ASSERT_OK(oauth_db_connect(url, &opts, &db, &err));
        sync_ok(db, &SANDBOX, 1, NULL, 0, ch);
        ASSERT_EQ(ch[0], OAUTH_CREATED);
        ASSERT_STREQ(sql_value("SELECT created_by FROM alt.oauth_clients WHERE id = $1", SANDBOX.id, NULL),
                     "alt-admin");
        ASSERT_STREQ(sql_value("SELECT count(*) FROM public.oauth_clients", NULL, NULL), "0");

        /* A row locked by someone else: the statement gives up after 300 ms. */
        sql("BEGIN; SELECT 1 FROM alt.oauth_clients FOR UPDATE");
        OAuthClientSpec s = SANDBOX;
        s.name = "Renamed";
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ASSERT_EQ(oauth_sync(db, &s, 1, NULL, 0, ch, &err), -ETIMEDOUT);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        sql("ROLLBACK");
        secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        printf("  cancelled by statement_timeout after %.2f s\n", secs);
        /* The server's statement_timeout, by its SQLSTATE, and not before
         * its 300 ms, less the clock's rounding (a lower bound only: how
         * soon after is the machine's, not the product's). */
        ASSERT_TRUE(secs >= 0.25);
        ASSERT_STREQ(err.sqlstate, "57014");
        if (!starts_with(err.message, "PostgreSQL cancelled the statement (statement_timeout 300 ms)"))
                TEST_FAIL("unexpected message: %s", err.message);
        sync_ok(db, &s, 1, NULL, 0, ch);
        ASSERT_EQ(ch[0], OAUTH_UPDATED);
        oauth_db_free(db);
        sql("DROP SCHEMA alt CASCADE");
}

TEST(reconnects_after_lost_connection) {
        OAuthDb *db = db_connect();
        OAuthError err = { 0 };
        OAuthChange ch[1];
        int r;

        reset(true);
        sync_ok(db, &SANDBOX, 1, NULL, 0, ch);
        ASSERT_STREQ(sql_value("SELECT count(pg_terminate_backend(pid)) > 0 FROM pg_stat_activity "
                               "WHERE application_name = 'nap-agent'",
                               NULL, NULL),
                     "t");
        r = oauth_sync(db, &SANDBOX, 1, NULL, 0, ch, &err);
        ASSERT_TRUE(r == 0 || r == -ECONNRESET);
        if (r < 0 && !starts_with(err.message, "lost the connection to PostgreSQL at 127.0.0.1:"))
                TEST_FAIL("unexpected message: %s", err.message);
        sync_ok(db, &SANDBOX, 1, NULL, 0, ch);
        ASSERT_EQ(ch[0], OAUTH_UNCHANGED);
        oauth_db_free(db);
}

TEST(invalid_arguments) {
        OAuthDb *db = db_connect();
        OAuthError err = { 0 };
        OAuthChange ch[2];
        OAuthClientSpec bad = { .id = "sandbox-service", .redirect_uri = "http://x/cb" };
        const char *del[] = { "sandbox-service" };

        ASSERT_EQ(oauth_sync(db, &bad, 1, NULL, 0, ch, &err), -EINVAL);
        ASSERT_EQ(oauth_sync(db, &SANDBOX, 1, del, 1, ch, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.message, "both registered and deleted"));
        oauth_db_free(db);
}

TEST_MAIN(T(change_to_string), T(table_missing), T(conninfo_build), T(first_registration),
          T(rerun_writes_nothing), T(changed_redirect_uri_updates_only_that), T(delete_and_absent),
          T(values_stored_verbatim), T(control_plane_redirect_check), T(foreign_row_keeps_its_owner),
          T(admin_uris_kept), T(system_identifier), T(target_from_conninfo), T(get_reads_arrays), T(unreachable), T(auth_failed), T(no_admin), T(failure_half_way_rolls_back),
          T(options_kept_and_statement_timeout), T(reconnects_after_lost_connection), T(invalid_arguments))
