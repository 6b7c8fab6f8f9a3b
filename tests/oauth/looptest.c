/* SPDX-License-Identifier: Apache-2.0 */
/* See looptest.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "looptest.h"
#include "tests.h"
#include "util/log.h"

sd_event *loop;
static LoopProbe probe; /* every dispatch of every test */

static pid_t stopped[8];
static volatile sig_atomic_t n_stopped;

void cont_all(void) {
        for (sig_atomic_t i = 0; i < n_stopped; i++)
                kill(stopped[i], SIGCONT);
        n_stopped = 0;
}

static void on_fatal(int sig) {
        cont_all();
        signal(sig, SIG_DFL);
        raise(sig);
}

/* Before main: the loop, and the backends continued whatever happens. */
__attribute__((constructor)) static void setup(void) {
        static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGSEGV, SIGABRT, SIGBUS, SIGFPE };

        log_setup(); /* NAP_LOG_LEVEL=debug shows what the oauth module does */
        atexit(cont_all);
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
                signal(sigs[i], on_fatal);
        if (sd_event_new(&loop) < 0) {
                fprintf(stderr, "cannot create an event loop\n");
                exit(1);
        }
}

static char proc_state(pid_t pid) {
        char path[64], buf[512], *p;
        FILE *f;
        size_t n;

        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return '?';
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        p = strrchr(buf, ')');
        return p && p[1] == ' ' ? p[2] : '?';
}

void stop_backend(pid_t pid) {
        uint64_t t0 = now_ms();

        ASSERT_TRUE(n_stopped < (sig_atomic_t) (sizeof stopped / sizeof stopped[0]));
        stopped[n_stopped++] = pid;
        if (kill(pid, SIGSTOP) < 0)
                TEST_FAIL("cannot stop backend %d: %s (run as root, or as the user PostgreSQL runs as)", (int) pid,
                          strerror(errno));
        while (proc_state(pid) != 'T') {
                if (now_ms() - t0 > 5000)
                        TEST_FAIL("backend %d is not stopped (state %c)", (int) pid, proc_state(pid));
                usleep(1000);
        }
}

static bool in_start;

void on_done(OAuthDb *db, int r, const OAuthChange *changes, const OAuthError *err, void *userdata) {
        Result *res = userdata;

        res->calls++;
        res->from_start = res->from_start || in_start;
        res->r = r;
        res->changes_null = !changes;
        if (changes)
                memcpy(res->changes, changes, res->n * sizeof *changes);
        if (err)
                res->err = *err;
}

void start(OAuthDb *db, const OAuthClientSpec *specs, size_t n, const char *const *del, size_t n_del,
                  Result *res) {
        int r;

        *res = (Result) { .n = n + n_del, .r = 1 };
        in_start = true;
        r = oauth_sync_start(db, specs, n, del, n_del, on_done, res);
        in_start = false;
        ASSERT_OK(r);
        ASSERT_EQ(res->calls, 0);
        ASSERT_TRUE(oauth_busy(db));
}

int run_once(uint64_t timeout_us) {
        int r = loop_probe_run(&probe, loop, timeout_us);

        ASSERT_OK(r);
        return r;
}

void run_until_quiet(void) {
        for (unsigned i = 0; run_once(0) > 0; i++)
                if (i >= 10000)
                        TEST_FAIL("the loop never ran out of things to do");
}

const LoopProbe *loop_probe(void) {
        return &probe;
}

uint64_t run_until_done(const Result *res) {
        uint64_t t0 = now_ms();

        while (res->calls == 0) {
                if (now_ms() - t0 > 20000)
                        TEST_FAIL("no answer within 20 s");
                run_once(100 * MSEC);
        }
        ASSERT_EQ(res->calls, 1);
        ASSERT_TRUE(!res->from_start);
        return now_ms() - t0;
}

void sync_ok(OAuthDb *db, const OAuthClientSpec *specs, size_t n, const char *const *del, size_t n_del,
                    Result *res) {
        start(db, specs, n, del, n_del, res);
        run_until_done(res);
        if (res->r < 0)
                TEST_FAIL("oauth_sync_start: %s: %s", strerror(-res->r), res->err.message);
        ASSERT_TRUE(!oauth_busy(db));
}

OAuthDb *new_db(const char *conninfo, const OAuthOptions *opts) {
        OAuthError err = { 0 };
        OAuthDb *db = NULL;
        int r = oauth_db_new(conninfo, opts, loop, &db, &err);
        if (r < 0)
                TEST_FAIL("oauth_db_new: %s: %s", strerror(-r), err.message);
        return db;
}
