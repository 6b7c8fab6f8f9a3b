/* SPDX-License-Identifier: Apache-2.0 */
/* See looptest.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "looptest.h"
#include "tests.h"
#include "util/log.h"

sd_event *loop;
static unsigned n_dispatches, n_blocked;

uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

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


static void ticker_note(Ticker *t) {
        uint64_t now = now_ms();
        if (now - t->last > t->max_gap)
                t->max_gap = now - t->last;
        t->last = now;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Ticker *t = userdata;

        ticker_note(t);
        t->n++;
        if (sd_event_source_set_time_relative(s, 100 * MSEC) < 0)
                return -EIO;
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

void ticker_start(Ticker *t) {
        *t = (Ticker) { .last = now_ms() };
        ASSERT_OK(sd_event_add_time_relative(loop, &t->s, CLOCK_MONOTONIC, 100 * MSEC, 1 * MSEC, on_tick, t));
}

void ticker_check(Ticker *t, uint64_t elapsed_ms) {
        ticker_note(t);
        t->s = sd_event_source_disable_unref(t->s);
        if (t->max_gap >= 300)
                TEST_FAIL("the loop was blocked: %llu ms between two firings of a 100 ms timer",
                          (unsigned long long) t->max_gap);
        ASSERT_TRUE(t->n + 2 >= elapsed_ms / 100);
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

/* How often this thread gave up the CPU of its own accord: it waited in
 * the kernel (a read, write, connect or poll that had to wait, a sleep, a
 * lock held elsewhere). */
static long voluntary_switches(void) {
        struct rusage ru;

        ASSERT_OK(getrusage(RUSAGE_THREAD, &ru));
        return ru.ru_nvcsw;
}

void run_once(uint64_t timeout_us) {
        long v;
        int r;

        r = sd_event_prepare(loop);
        if (r == 0)
                r = sd_event_wait(loop, timeout_us);
        if (r > 0) {
                v = voluntary_switches();
                r = sd_event_dispatch(loop);
                v = voluntary_switches() - v;
                n_dispatches++;
                if (v > 0) {
                        n_blocked++;
                        fprintf(stderr, "dispatch %u waited in the kernel (%ld voluntary context switch(es))\n",
                                n_dispatches, v);
                }
        }
        ASSERT_OK(r);
}

unsigned dispatches_blocked(unsigned *ret_n) {
        *ret_n = n_dispatches;
        return n_blocked;
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
