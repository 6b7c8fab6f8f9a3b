/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The asynchronous oauth API on an sd-event loop, like the daemon's,
 * against the harness's real PostgreSQL (tests/harness/with-harness.sh,
 * HARNESS_COMPONENTS=pg). Besides the results, what it proves is that the
 * loop is never blocked: no dispatch of the loop waits in the kernel
 * (tests/loopprobe.h) while a backend is stopped (SIGSTOP), while a server
 * accepts TCP and never answers, and while a row lock holds a statement
 * (no_dispatch_waits, last). A deadline is checked not to come early (a
 * timer never fires before its time, on any machine), never to come soon
 * enough: how soon is the machine's, not the product's.
 *
 * Stopping a backend needs the right to signal PostgreSQL's processes: root
 * (CI), or the user the harness runs PostgreSQL as (itself, when not root).
 * Every stopped backend is continued, also when a test fails or the binary
 * is killed.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "looptest.h"
#include "oauth.h"
#include "pgtest.h"
#include "tests.h"
#include "util/macro.h"

/* DATABASE_URL with an application_name, to find the backend by. */
static const char *url_app(const char *app) {
        static char buf[1024];
        snprintf(buf, sizeof buf, "%s?application_name=%s", env("DATABASE_URL"), app);
        return buf;
}

static pid_t backend_pid(const char *app, pid_t not) {
        char notbuf[16];
        const char *v;

        snprintf(notbuf, sizeof notbuf, "%d", (int) not);
        v = sql_value("SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name = $1 "
                      "AND pid <> $2::int",
                      app, notbuf);
        if (!v[0] || strchr(v, ',') || streq(v, "(null)"))
                TEST_FAIL("expected one backend for %s, found '%s'", app, v);
        return (pid_t) atoi(v);
}

static void wait_backend_gone(pid_t pid) {
        char buf[16];
        uint64_t t0 = now_ms();

        snprintf(buf, sizeof buf, "%d", (int) pid);
        while (!streq(sql_value("SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", buf, NULL), "0")) {
                if (now_ms() - t0 > 10000)
                        TEST_FAIL("backend %d still there after 10 s", (int) pid);
                usleep(5000);
        }
}

/* The sockets connected to PostgreSQL other than raw()'s: the db's
 * connection; *ret_fd gets the last one. */
static int db_sockets(int *ret_fd) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        ASSERT_TRUE(d);
        while ((de = readdir(d))) {
                struct sockaddr_in sa;
                socklen_t len = sizeof sa;
                int fd = atoi(de->d_name);

                if (de->d_name[0] == '.' || fd == dirfd(d) || fd == PQsocket(raw()) ||
                    getpeername(fd, (struct sockaddr *) &sa, &len) < 0 || sa.sin_family != AF_INET ||
                    ntohs(sa.sin_port) != (unsigned) atoi(env("PGPORT")))
                        continue;
                if (ret_fd)
                        *ret_fd = fd;
                n++;
        }
        closedir(d);
        return n;
}

static int db_socket(void) {
        int fd = -1;

        ASSERT_EQ(db_sockets(&fd), 1);
        return fd;
}

static void assert_no_password(const char *message) {
        if (strstr(message, env("PGPASSWORD")))
                TEST_FAIL("the password is in: %s", message);
        ASSERT_NULL(strchr(message, '\n'));
}

/* message starts with prefix, holds no password and is one line. */
static void want_prefix(const char *message, const char *prefix) {
        if (!starts_with(message, prefix))
                TEST_FAIL("unexpected message: '%s' (wanted '%s...')", message, prefix);
        assert_no_password(message);
}

/* A second session holding the sandbox row's lock (FOR UPDATE) in an open
 * transaction, until unlock_row(). */
static PGconn *lock_sandbox_row(void) {
        PGconn *locker = PQconnectdb(env("DATABASE_URL"));

        ASSERT_TRUE(PQstatus(locker) == CONNECTION_OK);
        PQclear(PQexec(locker, "BEGIN"));
        PQclear(PQexec(locker, "SELECT 1 FROM oauth_clients WHERE id = 'sandbox-service' FOR UPDATE"));
        return locker;
}

static void unlock_row(PGconn *locker) {
        PQclear(PQexec(locker, "ROLLBACK"));
        PQfinish(locker);
}

/* A fresh table with the sandbox's row synced by db; returns db's backend,
 * its pid also written into pidbuf. */
static pid_t synced_backend(OAuthDb *db, const char *app, char pidbuf[static 16]) {
        Result res;
        pid_t pid;

        reset(true);
        sync_ok(db, &SANDBOX, 1, NULL, 0, &res);
        pid = backend_pid(app, 0);
        snprintf(pidbuf, 16, "%d", (int) pid);
        return pid;
}

/* Runs the sync of s, which must time out, and not before deadline_ms
 * (the clock read before the start, which arms the deadline). */
static void run_to_timeout(OAuthDb *db, const OAuthClientSpec *s, Result *res, uint64_t deadline_ms) {
        uint64_t t0 = now_ms(), ms;

        start(db, s, 1, NULL, 0, res);
        run_until_done(res);
        ms = now_ms() - t0;
        printf("  timed out after %llu ms (deadline %llu ms)\n", (unsigned long long) ms,
               (unsigned long long) deadline_ms);
        ASSERT_EQ(res->r, -ETIMEDOUT);
        if (ms + 1 < deadline_ms) /* +1: both readings truncated to the ms */
                TEST_FAIL("timed out after %llu ms, before its deadline of %llu ms", (unsigned long long) ms,
                          (unsigned long long) deadline_ms);
}

/* pg_terminate_backend() of the backend whose pid is written in pidbuf. */
static void terminate_backend(const char *pidbuf) {
        ASSERT_STREQ(sql_value("SELECT pg_terminate_backend($1::int)", pidbuf, NULL), "t");
}

/* ---------------------------------------------------------------------------
 * Results */

TEST(results) {
        OAuthDb *db = new_db(url_app("nap-test-results"), NULL);
        OAuthClientSpec specs[] = { SANDBOX, BROWSER };
        const char *del[] = { "browser-service" }, *del_same[] = { "sandbox-service" };
        Result res, other = { 0 };
        char *before;

        reset(true);
        start(db, specs, 2, NULL, 0, &res);
        ASSERT_EQ(oauth_sync_start(db, specs, 2, NULL, 0, on_done, &other), -EBUSY);
        run_until_done(&res);
        ASSERT_EQ(res.r, 0);
        ASSERT_EQ(res.changes[0], OAUTH_CREATED);
        ASSERT_EQ(res.changes[1], OAUTH_CREATED);
        ASSERT_EQ(other.calls, 0);
        ASSERT_TRUE(!oauth_busy(db));
        /* Two specs, one transaction. */
        ASSERT_STREQ(sql_value("SELECT concat_ws('|', count(*), count(DISTINCT xmin::text)) FROM oauth_clients",
                               NULL, NULL),
                     "2|1");

        before = row_state(SANDBOX.id);
        sync_ok(db, specs, 2, NULL, 0, &res);
        ASSERT_EQ(res.changes[0], OAUTH_UNCHANGED);
        ASSERT_EQ(res.changes[1], OAUTH_UNCHANGED);
        char *after = row_state(SANDBOX.id);
        ASSERT_STREQ(after, before);
        free(before), free(after);

        specs[0].redirect_uri = "https://sandbox.example.org/api/auth/callback";
        specs[0].owned_uris = &SANDBOX.redirect_uri; /* registered before: it goes */
        specs[0].n_owned_uris = 1;
        sync_ok(db, specs, 2, NULL, 0, &res);
        ASSERT_EQ(res.changes[0], OAUTH_UPDATED);
        ASSERT_EQ(res.changes[1], OAUTH_UNCHANGED);
        ASSERT_STREQ(sql_value("SELECT redirect_uris[1] FROM oauth_clients WHERE id = $1", SANDBOX.id, NULL),
                     specs[0].redirect_uri);

        sync_ok(db, specs, 1, del, 1, &res);
        ASSERT_EQ(res.changes[0], OAUTH_UNCHANGED);
        ASSERT_EQ(res.changes[1], OAUTH_DELETED);
        sync_ok(db, specs, 1, del, 1, &res);
        ASSERT_EQ(res.changes[1], OAUTH_ABSENT);
        ASSERT_STREQ(sql_value("SELECT string_agg(id, ',') FROM oauth_clients", NULL, NULL), "sandbox-service");

        /* Nothing to do: answered from the loop too, without changes. */
        sync_ok(db, NULL, 0, NULL, 0, &res);
        ASSERT_TRUE(res.changes_null);

        /* A refusal comes through the callback, with its message. */
        start(db, specs, 1, del_same, 1, &res);
        run_until_done(&res);
        ASSERT_EQ(res.r, -EINVAL);
        ASSERT_TRUE(res.changes_null);
        ASSERT_TRUE(strstr(res.err.message, "both registered and deleted"));
        ASSERT_TRUE(!oauth_busy(db));
        oauth_db_free(db);
}

/* A statement larger than the socket buffers: PQflush sends it as the
 * socket drains (EPOLLOUT), the loop turning meanwhile. */
TEST(large_statement) {
        OAuthDb *db = new_db(url_app("nap-test-large"), NULL);
        size_t n = 8u << 20;
        char *uri = malloc(n + 1);
        OAuthClientSpec s = SANDBOX;
        Result res;

        ASSERT_TRUE(uri);
        memcpy(uri, "https://", 8);
        for (size_t i = 8; i < n; i++)
                uri[i] = (char) ('a' + i * 7 % 26);
        uri[n] = 0;
        s.redirect_uri = uri;
        reset(true);
        sync_ok(db, &s, 1, NULL, 0, &res);
        ASSERT_EQ(res.changes[0], OAUTH_CREATED);
        ASSERT_STREQ(sql_value("SELECT length(redirect_uris[1]) = 8388608 AND md5(redirect_uris[1]) = md5($1) "
                               "FROM oauth_clients WHERE id = 'sandbox-service'",
                               uri, NULL),
                     "t");
        sync_ok(db, &s, 1, NULL, 0, &res);
        ASSERT_EQ(res.changes[0], OAUTH_UNCHANGED);
        free(uri);
        oauth_db_free(db);
}

/* From inside a callback: the next operation starts (the daemon's state
 * machine does that), a synchronous call is refused, the db can be freed. */
typedef struct Chain {
        Result first, second;
        int sync_r;
        OAuthDb *freed;
} Chain;

static void on_first(OAuthDb *db, int r, const OAuthChange *changes, const OAuthError *err, void *userdata) {
        Chain *c = userdata;
        OAuthClient *row = NULL;

        on_done(db, r, changes, err, &c->first);
        c->sync_r = oauth_get(db, SANDBOX.id, &row, NULL);
        c->second = (Result) { .n = 1, .r = 1 };
        if (oauth_sync_start(db, &BROWSER, 1, NULL, 0, on_done, &c->second) < 0)
                c->second.r = -EIO;
}

static void on_last(OAuthDb *db, int r, const OAuthChange *changes, const OAuthError *err, void *userdata) {
        Chain *c = userdata;

        on_done(db, r, changes, err, &c->first);
        c->freed = oauth_db_free(db);
}

TEST(callbacks_chain) {
        OAuthDb *db = new_db(url_app("nap-test-chain"), NULL);
        Chain c = { .first = { .n = 1 } };

        reset(true);
        ASSERT_OK(oauth_sync_start(db, &SANDBOX, 1, NULL, 0, on_first, &c));
        run_until_done(&c.second);
        ASSERT_EQ(c.first.calls, 1);
        ASSERT_EQ(c.first.r, 0);
        ASSERT_EQ(c.sync_r, -EDEADLK);
        ASSERT_EQ(c.second.r, 0);
        ASSERT_EQ(c.second.changes[0], OAUTH_CREATED);
        ASSERT_STREQ(sql_value("SELECT count(*) FROM oauth_clients", NULL, NULL), "2");

        c = (Chain) { .first = { .n = 1 }, .freed = (OAuthDb *) 1 };
        ASSERT_OK(oauth_sync_start(db, &SANDBOX, 1, NULL, 0, on_last, &c));
        run_until_done(&c.first);
        ASSERT_EQ(c.first.r, 0);
        ASSERT_NULL(c.freed);
}

TEST(failure_rolls_back) {
        OAuthDb *db = new_db(url_app("nap-test-rollback"), NULL);
        OAuthClientSpec specs[] = { SANDBOX, BROWSER };
        const char *del[] = { "other-client" };
        Result res;
        char *before, *after;

        reset(true);
        sync_ok(db, &SANDBOX, 1, NULL, 0, &res);
        sql("INSERT INTO oauth_clients (id, name, redirect_uris, created_by) VALUES "
            "('other-client', 'O', ARRAY['http://o/cb'], 'admin-a')");
        before = row_state(SANDBOX.id);
        sql("UPDATE users SET role = 'user'");

        /* The update of the first spec happens, the insert of the second cannot. */
        specs[0].redirect_uri = "https://changed.example.org/api/auth/callback";
        start(db, specs, 2, del, 1, &res);
        run_until_done(&res);
        ASSERT_EQ(res.r, -ENODATA);
        ASSERT_TRUE(res.changes_null);
        ASSERT_STREQ(res.err.message, "no user with role 'admin' in table users: seed the platform admin first");
        after = row_state(SANDBOX.id);
        ASSERT_STREQ(after, before);
        ASSERT_STREQ(sql_value("SELECT string_agg(id, ',' ORDER BY id) FROM oauth_clients", NULL, NULL),
                     "other-client,sandbox-service");
        /* Rolled back before the callback, not at the next operation: the
         * backend is not left idle in an aborted transaction. */
        ASSERT_STREQ(sql_value("SELECT state FROM pg_stat_activity WHERE application_name = $1", "nap-test-rollback",
                               NULL),
                     "idle");

        sql("UPDATE users SET role = 'admin' WHERE id = 'admin-a'");
        sync_ok(db, specs, 2, del, 1, &res);
        ASSERT_EQ(res.changes[0], OAUTH_UPDATED);
        ASSERT_EQ(res.changes[1], OAUTH_CREATED);
        ASSERT_EQ(res.changes[2], OAUTH_DELETED);
        free(before), free(after);
        oauth_db_free(db);
}

/* ---------------------------------------------------------------------------
 * Deadlines, lost connections, stalls */

TEST(deadline_during_statement) {
        OAuthOptions opts = { .deadline_usec = 800 * USEC_PER_MSEC, .statement_timeout_usec = 60 * USEC_PER_SEC };
        OAuthDb *db = new_db(url_app("nap-test-deadline"), &opts);
        OAuthClientSpec s = SANDBOX;
        char pidbuf[16], want[256];
        PGconn *locker;
        Result res;

        synced_backend(db, "nap-test-deadline", pidbuf);
        locker = lock_sandbox_row();

        s.name = "Renamed";
        run_to_timeout(db, &s, &res, 800);
        snprintf(want, sizeof want, "no answer from PostgreSQL at 127.0.0.1:%s within 800 ms", env("PGPORT"));
        want_prefix(res.err.message, want);
        unlock_row(locker);

        /* The next operation reconnects; the timed-out one changed nothing. */
        sync_ok(db, &s, 1, NULL, 0, &res);
        ASSERT_EQ(res.changes[0], OAUTH_UPDATED);
        oauth_db_free(db);
}

TEST(lost_during_operation) {
        OAuthDb *db = new_db(url_app("nap-test-lost"), NULL);
        OAuthClientSpec s = SANDBOX;
        char pidbuf[16], want[256];
        PGconn *locker;
        uint64_t t0;
        Result res;
        pid_t pid;

        pid = synced_backend(db, "nap-test-lost", pidbuf);
        locker = lock_sandbox_row();

        s.name = "Renamed";
        start(db, &s, 1, NULL, 0, &res);
        /* Fence: the upsert waits for the row lock. */
        t0 = now_ms();
        while (!streq(sql_value("SELECT coalesce(wait_event_type, '') FROM pg_stat_activity WHERE pid = $1::int",
                                pidbuf, NULL),
                      "Lock")) {
                if (now_ms() - t0 > 10000)
                        TEST_FAIL("the upsert never waited for the lock");
                run_once(10 * MSEC);
        }
        ASSERT_EQ(res.calls, 0);
        terminate_backend(pidbuf);
        run_until_done(&res);
        ASSERT_EQ(res.r, -ECONNRESET);
        snprintf(want, sizeof want, "lost the connection to PostgreSQL at 127.0.0.1:%s: ", env("PGPORT"));
        want_prefix(res.err.message, want);
        unlock_row(locker);

        sync_ok(db, &s, 1, NULL, 0, &res);
        ASSERT_EQ(res.changes[0], OAUTH_UPDATED);
        ASSERT_TRUE(backend_pid("nap-test-lost", 0) != pid);
        oauth_db_free(db);
}

TEST(kept_connection_closed_reconnects) {
        OAuthDb *db = new_db(url_app("nap-test-kept"), NULL);
        char pidbuf[16];
        Result res;
        pid_t pid;

        pid = synced_backend(db, "nap-test-kept", pidbuf);
        terminate_backend(pidbuf);
        wait_backend_gone(pid);

        /* Transparently: no error, on a new backend. */
        sync_ok(db, &SANDBOX, 1, NULL, 0, &res);
        ASSERT_EQ(res.r, 0);
        ASSERT_EQ(res.changes[0], OAUTH_UNCHANGED);
        ASSERT_TRUE(backend_pid("nap-test-kept", 0) != pid);
        oauth_db_free(db);
}

TEST(stalled_backend) {
        OAuthOptions opts = { .deadline_usec = 1500 * USEC_PER_MSEC };
        OAuthDb *db = new_db(url_app("nap-test-stall"), &opts);
        OAuthClientSpec s = SANDBOX;
        Result res, cancelled;
        char pidbuf[16], want[256];
        pid_t a, b;

        a = synced_backend(db, "nap-test-stall", pidbuf);
        ASSERT_EQ(db_sockets(NULL), 1);
        stop_backend(a);

        /* Cancelled during the stall (the loop has done all it could: the
         * operation waits for the stopped backend): the cancel returns
         * without waiting in the kernel (no PQcancel, which would), and
         * nothing is left running. */
        s.name = "Renamed";
        start(db, &s, 1, NULL, 0, &cancelled);
        run_until_quiet();
        ASSERT_TRUE(oauth_busy(db));
        ASSERT_EQ(cancelled.calls, 0);
        ASSERT_RETURNS_AT_ONCE(oauth_cancel(db));
        ASSERT_TRUE(!oauth_busy(db));
        ASSERT_EQ(db_sockets(NULL), 0); /* the connection is closed */
        oauth_cancel(db);            /* idle: nothing */

        /* The next operation reconnects, to a backend that answers. */
        sync_ok(db, &s, 1, NULL, 0, &res);
        ASSERT_EQ(res.changes[0], OAUTH_UPDATED);
        ASSERT_EQ(cancelled.calls, 0); /* fence: an operation completed since */

        /* Stalled again: the deadline closes the connection; the loop runs on. */
        b = backend_pid("nap-test-stall", a);
        stop_backend(b);
        s.name = "Renamed again";
        run_to_timeout(db, &s, &res, 1500);
        snprintf(want, sizeof want, "no answer from PostgreSQL at 127.0.0.1:%s within 1500 ms: closed the connection",
                 env("PGPORT"));
        ASSERT_STREQ(res.err.message, want);
        cont_all();

        /* And once more: reconnected, the stalled transaction changed nothing. */
        sync_ok(db, &s, 1, NULL, 0, &res);
        ASSERT_EQ(res.changes[0], OAUTH_UPDATED);
        oauth_db_free(db);
}

/* A socket that listens and never accepts: the kernel completes the TCP
 * handshake, nobody answers the startup. */
static int listen_silent(unsigned *port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof sa;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        ASSERT_EQ(listen(fd, 16), 0);
        ASSERT_EQ(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        *port = ntohs(sa.sin_port);
        return fd;
}

TEST(silent_server) {
        OAuthOptions opts = { .deadline_usec = 1500 * USEC_PER_MSEC },
                     short_connect = { .connect_timeout_usec = 1 * USEC_PER_SEC };
        char conninfo[256], want[256];
        OAuthError err = { 0 };
        OAuthDb *db, *never = (OAuthDb *) 1;
        unsigned port;
        int fd = listen_silent(&port), c;
        Result res;
        uint64_t ms, t0;

        snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%u dbname=nap user=nap password=S1lent-pw", port);
        snprintf(want, sizeof want, "cannot reach PostgreSQL at 127.0.0.1:%u: timeout expired", port);

        db = new_db(conninfo, &opts);
        run_to_timeout(db, &SANDBOX, &res, 1500);
        ASSERT_STREQ(res.err.message, want);
        ASSERT_NULL(strstr(res.err.message, "S1lent-pw"));
        /* It did connect: the connection waits in the accept queue. */
        c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        ASSERT_TRUE(c >= 0);
        close(c);
        oauth_db_free(db);

        /* The synchronous connect is bounded too (connect_timeout_usec here:
         * libpq's message says its timeout expired; not before 1 s). */
        t0 = now_ms();
        ASSERT_EQ(oauth_db_connect(conninfo, &short_connect, &never, &err), -ETIMEDOUT);
        ms = now_ms() - t0;
        printf("  the synchronous connect timed out after %llu ms\n", (unsigned long long) ms);
        ASSERT_TRUE(ms + 1 >= 1000);
        ASSERT_TRUE(never == (OAuthDb *) 1);
        ASSERT_STREQ(err.message, want);
        close(fd);
}

/* ---------------------------------------------------------------------------
 * Host names and TCP settings */

/* "a,a,...": item n times; or, with items, each of them in turn, n times over. */
static void repeat(char *buf, size_t size, const char *item, size_t n) {
        buf[0] = 0;
        for (size_t i = 0; i < n; i++)
                snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? "," : "", item);
}

/* The addresses "localhost" has here, as libpq would be given them. */
static size_t localhost_addresses(char *buf, size_t size) {
        static const struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
        struct addrinfo *ai = NULL;
        char a[128];
        size_t n = 0;

        ASSERT_EQ(getaddrinfo("localhost", NULL, &hints, &ai), 0);
        buf[0] = 0;
        for (struct addrinfo *p = ai; p; p = p->ai_next) {
                ASSERT_EQ(getnameinfo(p->ai_addr, p->ai_addrlen, a, sizeof a, NULL, 0, NI_NUMERICHOST), 0);
                if (strstr(buf, a))
                        continue;
                snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", n++ ? "," : "", a);
        }
        freeaddrinfo(ai);
        return n;
}

static char *setting(OAuthDb *db, const char *keyword) {
        static char buf[512];
        char *v = oauth_db_setting(db, keyword);

        snprintf(buf, sizeof buf, "%s", v ? v : "(null)");
        free(v);
        return buf;
}

static const char *conninfo_localhost(const char *host, const char *port) {
        static char buf[512];

        snprintf(buf, sizeof buf, "host=%s port=%s dbname=nap user=nap password=%s", host, port, env("PGPASSWORD"));
        return buf;
}

TEST(host_name_resolved) {
        char addrs[256], want[512];
        size_t n = localhost_addresses(addrs, sizeof addrs);
        OAuthError err = { 0 };
        OAuthDb *db;
        Result res;

        reset(true);
        db = new_db(conninfo_localhost("localhost", env("PGPORT")), NULL);
        sync_ok(db, &SANDBOX, 1, NULL, 0, &res);
        ASSERT_EQ(res.changes[0], OAUTH_CREATED);
        /* libpq was given the addresses (hostaddr), and the name beside them. */
        ASSERT_STREQ(setting(db, "hostaddr"), addrs);
        repeat(want, sizeof want, "localhost", n);
        ASSERT_STREQ(setting(db, "host"), want);
        ASSERT_TRUE(strstr(addrs, "127.0.0.1"));
        ASSERT_STREQ(setting(db, "password"), "(null)");
        oauth_db_free(db);

        /* A numeric host needs nothing of the kind. */
        db = new_db(env("DATABASE_URL"), NULL);
        sync_ok(db, &SANDBOX, 1, NULL, 0, &res);
        ASSERT_STREQ(setting(db, "host"), "127.0.0.1");
        ASSERT_STREQ(setting(db, "hostaddr"), "(null)");
        oauth_db_free(db);

        /* The synchronous API goes the same way. */
        ASSERT_OK(oauth_db_connect(conninfo_localhost("localhost", env("PGPORT")), NULL, &db, &err));
        ASSERT_STREQ(setting(db, "hostaddr"), addrs);
        oauth_db_free(db);
}

/* Two hosts, each with its port: every one resolved (each address one more
 * entry, with its host's port), the closed one passed over. */
TEST(several_hosts) {
        char addrs[256], want[512], ports[256], closed_port[16], hosts[64];
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof sa;
        size_t n = localhost_addresses(addrs, sizeof addrs);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        OAuthDb *db;
        Result res;

        ASSERT_EQ(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0); /* bound, not listening: refused */
        ASSERT_EQ(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        snprintf(closed_port, sizeof closed_port, "%u", ntohs(sa.sin_port));
        snprintf(ports, sizeof ports, "%s,%s", closed_port, env("PGPORT"));
        reset(true);
        db = new_db(conninfo_localhost("localhost,localhost", ports), NULL);
        sync_ok(db, &SANDBOX, 1, NULL, 0, &res);
        ASSERT_EQ(res.changes[0], OAUTH_CREATED);
        snprintf(want, sizeof want, "%s,%s", addrs, addrs);
        ASSERT_STREQ(setting(db, "hostaddr"), want);
        repeat(hosts, sizeof hosts, closed_port, n);
        repeat(ports, sizeof ports, env("PGPORT"), n);
        snprintf(want, sizeof want, "%s,%s", hosts, ports);
        ASSERT_STREQ(setting(db, "port"), want);
        repeat(want, sizeof want, "localhost", 2 * n);
        ASSERT_STREQ(setting(db, "host"), want);
        oauth_db_free(db);
        close(fd);
}

/* What could make libpq resolve a name itself is refused. */
TEST(host_lists_refused) {
        const char *pghost = getenv("PGHOST");
        _cleanup_free_ char *saved = pghost ? strdup(pghost) : NULL;
        OAuthError err = { 0 };
        OAuthDb *db = NULL;

        ASSERT_EQ(oauth_db_new("host=a,b port=1,2,3", NULL, loop, &db, &err), -EINVAL);
        ASSERT_STREQ(err.message, "invalid PostgreSQL connection string: could not match 3 port numbers to 2 hosts");
        ASSERT_EQ(oauth_db_new("host=a,b hostaddr=127.0.0.1", NULL, loop, &db, &err), -EINVAL);
        ASSERT_STREQ(err.message,
                     "invalid PostgreSQL connection string: could not match 2 host names to 1 hostaddr values");
        ASSERT_NULL(db);
        ASSERT_EQ(unsetenv("PGHOST"), 0);
        ASSERT_EQ(oauth_db_new("service=nap dbname=nap", NULL, loop, &db, &err), -EINVAL);
        ASSERT_TRUE(strstr(err.message, "PostgreSQL service 'nap': give host or hostaddr"));
        ASSERT_OK(oauth_db_new("service=nap host=127.0.0.1", NULL, loop, &db, &err));
        oauth_db_free(db);
        if (saved)
                ASSERT_EQ(setenv("PGHOST", saved, 1), 0);
}

static int sockopt(int fd, int level, int name) {
        int v = -1;
        socklen_t len = sizeof v;

        ASSERT_EQ(getsockopt(fd, level, name, &v, &len), 0);
        return v;
}

/* db's connection keeps alive: keepalives on, every 5 s, 3 probes, after
 * idle seconds, and tcp_user_timeout ms; in the conninfo and in effect on the
 * socket. */
static void expect_keepalives(OAuthDb *db, const char *idle, const char *user_timeout) {
        int fd;

        ASSERT_STREQ(setting(db, "keepalives"), "1");
        ASSERT_STREQ(setting(db, "keepalives_idle"), idle);
        ASSERT_STREQ(setting(db, "keepalives_interval"), "5");
        ASSERT_STREQ(setting(db, "keepalives_count"), "3");
        ASSERT_STREQ(setting(db, "tcp_user_timeout"), user_timeout);
        fd = db_socket();
        ASSERT_EQ(sockopt(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
        ASSERT_EQ(sockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE), atoi(idle));
        ASSERT_EQ(sockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL), 5);
        ASSERT_EQ(sockopt(fd, IPPROTO_TCP, TCP_KEEPCNT), 3);
        ASSERT_EQ(sockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), atoi(user_timeout));
}

TEST(keepalives) {
        OAuthDb *db = new_db(url_app("nap-test-tcp"), NULL);
        char url[1200];
        Result res;

        reset(true);
        (void) raw();
        sync_ok(db, &SANDBOX, 1, NULL, 0, &res);
        expect_keepalives(db, "10", "10000");
        oauth_db_free(db);

        /* The conninfo's own values win. */
        snprintf(url, sizeof url, "%s&keepalives_idle=7&tcp_user_timeout=3000", url_app("nap-test-tcp"));
        db = new_db(url, NULL);
        sync_ok(db, &SANDBOX, 1, NULL, 0, &res);
        expect_keepalives(db, "7", "3000");
        oauth_db_free(db);
}

/* Runs last: no dispatch of the loop in all the tests above (connecting
 * with SCRAM, every answer, every deadline, backends stopped and silent
 * servers) waited in the kernel: each did what its socket allowed and
 * returned, so the loop is never blocked. Counted from the thread's
 * voluntary context switches, not timed (how much CPU a dispatch takes is
 * a figure for bench/run.sh, which prints the daemon's longest). libpq is
 * linked into this test (pgtest.c), so loading it on the loop reads no
 * file. */
TEST(no_dispatch_waits) {
        loop_probe_check(loop_probe(), 100, "every test above (run the whole binary)");
}

TEST_MAIN(T(results), T(large_statement), T(callbacks_chain), T(failure_rolls_back), T(deadline_during_statement),
          T(lost_during_operation), T(kept_connection_closed_reconnects), T(stalled_backend), T(silent_server),
          T(host_name_resolved), T(several_hosts), T(host_lists_refused), T(keepalives), T(no_dispatch_waits))
