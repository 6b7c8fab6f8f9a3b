/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The clocks, in the units the agent uses: the monotonic one for every
 * timer and duration, the wall clock only for what a reader compares with
 * other machines' times (timestamps in metrics and the ledger).
 */
#pragma once

#include <stdint.h>
#include <time.h>

static inline uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static inline uint64_t now_ms(void) {
        return now_usec() / 1000ULL;
}

/* The wall clock (CLOCK_REALTIME) in microseconds since the epoch. */
static inline uint64_t now_realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}
