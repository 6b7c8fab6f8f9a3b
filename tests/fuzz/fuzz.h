/* SPDX-License-Identifier: Apache-2.0 */
/* The libFuzzer entry point every fuzz-*.c defines; fuzz-replay.c calls it.
 * CHECK() states a contract of the code under test: a violation aborts, so
 * libFuzzer (and the replay test) report it like a crash. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                \
        do {                                                                    \
                if (!(x)) {                                                     \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x); \
                        abort();                                                \
                }                                                               \
        } while (0)
