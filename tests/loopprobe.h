/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Whether an sd-event loop is ever blocked, told by the kernel rather than
 * by a clock. A dispatch that makes its thread wait in the kernel (a read,
 * write, connect or poll that had to wait, a sleep, a lock held by another
 * thread) shows as a voluntary context switch of the thread (getrusage
 * RUSAGE_THREAD); a loop whose every source does what its fd allows and
 * returns waits only in sd_event_wait(), which is not counted. So a blocked
 * loop is caught however fast or loaded the machine is, where the gap
 * between two firings of a timer only guesses at it. How long a dispatch
 * takes is a figure for bench/, never a test's assertion.
 */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

typedef struct LoopProbe {
        unsigned dispatches; /* run through loop_probe_run() */
        unsigned waited;     /* of those, the ones that waited in the kernel */
} LoopProbe;

/* One iteration of e: waits up to timeout_usec for something to do, then
 * dispatches it, counted in *p (a dispatch that waited is also said on
 * stderr). Returns > 0 when something was dispatched, 0 when nothing came
 * in time, < 0 on an error of the loop. */
int loop_probe_run(LoopProbe *p, sd_event *e, uint64_t timeout_usec);

/* Fails the test unless *p watched at least min_dispatches dispatches and
 * none of them waited in the kernel; what names what was watched. */
void loop_probe_check(const LoopProbe *p, unsigned min_dispatches, const char *what);

/* The calling thread's voluntary context switches so far. */
long thread_voluntary_switches(void);

/* Runs stmt and fails the test if the thread waited in the kernel meanwhile:
 * for a call that must return at once (a cancel), whatever the clock says. */
#define ASSERT_RETURNS_AT_ONCE(stmt)                                                                    \
        do {                                                                                            \
                long _v = thread_voluntary_switches();                                                  \
                stmt;                                                                                   \
                _v = thread_voluntary_switches() - _v;                                                  \
                if (_v != 0)                                                                            \
                        TEST_FAIL("%s waited in the kernel (%ld voluntary context switch(es))", #stmt, _v); \
        } while (0)
