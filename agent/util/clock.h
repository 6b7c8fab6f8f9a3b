/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The monotonic clock, in the units the agent uses.
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
