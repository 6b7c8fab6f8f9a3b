/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The asynchronous oauth tests' loop: one sd-event loop like the daemon's,
 * operations started and run to their answer with every dispatch watched
 * for waiting in the kernel (tests/loopprobe.h), and backends stopped with
 * SIGSTOP that are always continued (at exit, and on a fatal or
 * terminating signal).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "loopprobe.h"
#include "oauth.h"

#define MSEC USEC_PER_MSEC /* in µs */

extern sd_event *loop;

/* now_ms(): util/clock.h */

/* Stops a backend (SIGSTOP) and waits until it is; fails the test when it
 * may not be signalled. */
void stop_backend(pid_t pid);
/* Continues every backend stopped so far. */
void cont_all(void);

/* What an operation's callback was given. */
typedef struct Result {
        unsigned calls;
        bool from_start; /* called from inside oauth_sync_start */
        int r;
        bool changes_null;
        OAuthChange changes[4];
        size_t n;
        OAuthError err;
} Result;
void on_done(OAuthDb *db, int r, const OAuthChange *changes, const OAuthError *err, void *userdata);

/* oauth_sync_start with on_done: checks it returned 0, did not call back
 * yet and left the db busy. */
void start(OAuthDb *db, const OAuthClientSpec *specs, size_t n, const char *const *del, size_t n_del,
           Result *res);
/* Runs the loop (one step: up to timeout_us), watched by the probe that
 * loop_probe() returns; > 0 when it dispatched something, 0 when nothing
 * came in time. */
int run_once(uint64_t timeout_us);
/* Runs the loop until it has nothing left to do at once: an operation
 * still busy then waits for its server. */
void run_until_quiet(void);
/* Runs the loop until res has its one answer, not from inside the start
 * (failing after 20 s); returns the time it took, in ms. */
uint64_t run_until_done(const Result *res);
/* start, run_until_done, and r must be 0. */
void sync_ok(OAuthDb *db, const OAuthClientSpec *specs, size_t n, const char *const *del, size_t n_del,
             Result *res);
OAuthDb *new_db(const char *conninfo, const OAuthOptions *opts);

/* Every dispatch of the loop so far, in all the tests of the binary. */
const LoopProbe *loop_probe(void);
