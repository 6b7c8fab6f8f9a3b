/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lower-case hex of bytes.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Writes 2 * n hex digits and a NUL into ret (2 * n + 1 bytes). */
static inline void hex_encode(const uint8_t *data, size_t n, char *ret) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                ret[2 * i] = digits[data[i] >> 4];
                ret[2 * i + 1] = digits[data[i] & 15];
        }
        ret[2 * n] = 0;
}
