/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gen-secrets`: fills the machine-internal secrets of values.env that are
 * empty or still a placeholder with 32 random bytes as 64 hex characters,
 * editing only those values: every other byte of the file (order, comments,
 * blank lines, quoting) stays as it was. Pure text in, text out; the CLI
 * reads and replaces the file.
 */
#pragma once

#include <stddef.h>

#include "envfile.h"

/* The keys gen-secrets may fill, NULL-terminated. */
extern const char *const gensecrets_keys[];

/* Whether value is a placeholder to replace: empty, change-me..., changeme...,
 * or the example file's demo-only-... */
bool gensecrets_is_placeholder(const char *value);

/* Writes 64 lower-case hex characters and a NUL; returns 0 or negative. */
typedef int (*GenSecretsRandom)(char ret[65], void *userdata);
int gensecrets_random_hex(char ret[65], void *userdata); /* OpenSSL RAND_bytes */

/* Returns in *ret_text the new text and in *ret_filled a NULL-terminated list
 * of the keys it filled (both malloc'ed; the list may be empty). Only the
 * last assignment of a key counts, as in bash. A value spanning lines is
 * left alone. */
int gensecrets_fill(const char *text, size_t len, const EnvFile *env, GenSecretsRandom rnd, void *userdata,
                    char **ret_text, char ***ret_filled);
