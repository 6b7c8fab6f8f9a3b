/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util/resolve: getaddrinfo on a thread, answered on the loop. Real lookups
 * of "localhost" (the hosts file: no network). A DNS server that never
 * answers cannot be had on loopback without editing /etc/resolv.conf, so
 * one test hands resolve_start a hand-written lookup that blocks until the
 * test lets it go (it then calls the real getaddrinfo): the fault it
 * injects is "the lookup hangs".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loopprobe.h"
#include "tests.h"
#include "util/macro.h"
#include "util/resolve.h"

typedef struct Answer {
        unsigned calls;
        int gai_error;
        bool has_loopback;
} Answer;

static bool in_start;

static void on_answer(Resolve *q, int gai_error, int sys_errno, const struct addrinfo *ai, void *userdata) {
        Answer *a = userdata;

        if (in_start)
                a->calls += 100; /* called from inside resolve_start: counted as a failure below */
        a->calls++;
        a->gai_error = gai_error;
        for (; ai; ai = ai->ai_next)
                if (ai->ai_family == AF_INET &&
                    ((const struct sockaddr_in *) ai->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
                        a->has_loopback = true;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* Runs the loop until *calls is non-zero; fails after 10 s. */
static void run_until_called(sd_event *e, const unsigned *calls) {
        uint64_t t0 = now_ms();

        while (*calls == 0) {
                if (now_ms() - t0 > 10000)
                        TEST_FAIL("no answer within 10 s");
                ASSERT_OK(sd_event_run(e, 100 * 1000));
        }
}

/* The threads finish on their own after their answer: wait for that (a
 * condition, polled, with a bound). */
static void wait_no_threads(void) {
        uint64_t t0 = now_ms();

        while (resolve_threads() > 0) {
                if (now_ms() - t0 > 10000)
                        TEST_FAIL("%u lookup thread(s) still running after 10 s", resolve_threads());
                usleep(1000);
        }
}

static int start_resolve(sd_event *e, const char *node, const struct addrinfo *hints, ResolveLookup lookup,
                         Answer *a, Resolve **q) {
        int r;

        in_start = true;
        r = resolve_start(e, node, NULL, hints, lookup, on_answer, a, q);
        in_start = false;
        return r;
}

TEST(localhost) {
        static const struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
        sd_event *e = NULL;
        Resolve *q = NULL;
        Answer a = { 0 };

        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(start_resolve(e, "localhost", &hints, NULL, &a, &q));
        ASSERT_TRUE(q != NULL);
        ASSERT_EQ(a.calls, 0);
        run_until_called(e, &a.calls);
        ASSERT_EQ(a.calls, 1);
        ASSERT_EQ(a.gai_error, 0);
        ASSERT_TRUE(a.has_loopback);
        wait_no_threads();
        sd_event_unref(e);
}

TEST(failure) {
        static const struct addrinfo numeric = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM };
        sd_event *e = NULL;
        Resolve *q = NULL;
        Answer a = { 0 };

        ASSERT_OK(sd_event_new(&e));
        /* AI_NUMERICHOST: refused without asking anyone. */
        ASSERT_OK(start_resolve(e, "not-an-address", &numeric, NULL, &a, &q));
        run_until_called(e, &a.calls);
        ASSERT_EQ(a.calls, 1);
        ASSERT_EQ(a.gai_error, EAI_NONAME);
        wait_no_threads();
        sd_event_unref(e);
}

/* The hanging lookup: waits for a byte on gate[0]; notes whether the
 * thread runs with the loop's signals blocked. */
static int gate[2] = { -1, -1 };
static atomic_bool lookup_entered, sigterm_blocked;

static int hanging_lookup(const char *node, const char *service, const struct addrinfo *hints,
                          struct addrinfo **res) {
        sigset_t mask;
        char c;

        pthread_sigmask(SIG_SETMASK, NULL, &mask);
        atomic_store(&sigterm_blocked, sigismember(&mask, SIGTERM) == 1);
        atomic_store(&lookup_entered, true);
        if (read(gate[0], &c, 1) != 1)
                return EAI_SYSTEM;
        return getaddrinfo(node, service, hints, res);
}

static int tick(sd_event_source *s, uint64_t usec, void *userdata) {
        unsigned *n = userdata;

        (*n)++;
        ASSERT_OK(sd_event_source_set_time_relative(s, 20 * 1000));
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

TEST(hanging_lookup_blocks_nothing) {
        sd_event *e = NULL;
        sd_event_source *ticker = NULL;
        Resolve *q = NULL;
        Answer hung = { 0 }, next = { 0 };
        unsigned ticks = 0;
        LoopProbe probe = { 0 };

        ASSERT_OK(sd_event_new(&e));
        ASSERT_EQ(pipe2(gate, O_CLOEXEC), 0);
        ASSERT_OK(sd_event_add_time_relative(e, &ticker, CLOCK_MONOTONIC, 20 * 1000, 1000, tick, &ticks));
        ASSERT_OK(start_resolve(e, "localhost", NULL, hanging_lookup, &hung, &q));

        /* The loop runs on while the lookup hangs: ten ticks of 20 ms, no
         * dispatch waiting in the kernel. */
        while (ticks < 10)
                ASSERT_OK(loop_probe_run(&probe, e, UINT64_MAX));
        loop_probe_check(&probe, 10, "while the lookup hangs");
        ASSERT_TRUE(atomic_load(&lookup_entered));
        ASSERT_TRUE(atomic_load(&sigterm_blocked));
        ASSERT_EQ(hung.calls, 0);
        ASSERT_EQ(resolve_threads(), 1);

        /* Cancelled while it hangs: returns at once (without waiting in the
         * kernel, for the thread or anything else), the thread stays until
         * the lookup ends. */
        ASSERT_RETURNS_AT_ONCE(ASSERT_NULL(resolve_cancel(q)));
        ASSERT_EQ(resolve_threads(), 1);
        ASSERT_EQ(write(gate[1], "x", 1), 1);
        wait_no_threads();

        /* Fence: a later lookup is answered, the cancelled one never was. */
        ASSERT_OK(start_resolve(e, "localhost", NULL, NULL, &next, &q));
        run_until_called(e, &next.calls);
        ASSERT_EQ(next.calls, 1);
        ASSERT_EQ(hung.calls, 0);
        wait_no_threads();

        sd_event_source_unref(ticker);
        sd_event_unref(e);
        close(gate[0]);
        close(gate[1]);
}

TEST_MAIN(T(localhost), T(failure), T(hanging_lookup_blocks_nothing))
