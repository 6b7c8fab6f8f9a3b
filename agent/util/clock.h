/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Time inside the agent: usec_t, microseconds (sd-event's unit), with
 * USEC_INFINITY for "never"; only options and messages speak seconds or
 * milliseconds. The monotonic clock in that unit for every timer and
 * duration; the wall clock only for what a reader compares with other
 * machines' times (timestamps in metrics and the ledger).
 */
#pragma once

#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;

#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define NSEC_PER_USEC ((uint64_t) 1000ULL)

static inline usec_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / NSEC_PER_USEC;
}

static inline uint64_t now_ms(void) {
        return now_usec() / USEC_PER_MSEC;
}

/* For an API that speaks milliseconds (libcurl's, poll(2)): usec rounded
 * up, so that a deadline is never cut short; at least 1 for anything above
 * 0 (0 often means "none" there). */
static inline long usec_to_ms_ceil(usec_t usec) {
        return (long) ((usec + USEC_PER_MSEC - 1) / USEC_PER_MSEC);
}

/* The wall clock (CLOCK_REALTIME) in microseconds since the epoch. */
static inline usec_t now_realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / NSEC_PER_USEC;
}
