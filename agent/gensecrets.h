/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gen-secrets`: gives the machine-internal secrets of values.env random
 * values, as the platform's own tooling does (docs/platform.md §3): each one that
 * is empty or still a placeholder gets 32 random bytes as 64 hex characters
 * in place, and each one missing from the file is appended. Secrets a
 * person must know (ADMIN_PASSWORD, LDAP_BIND_PASSWORD) are never
 * generated. Only the value as written is replaced, found by the byte range
 * the parser recorded (EnvEntry.value_start/value_end): every other byte of
 * the file (order, comments, blank lines, quoting) stays as it was. Pure
 * text in, text out; the CLI reads and replaces the file.
 */
#pragma once

#include <stddef.h>

#include "envfile.h"

#define GENSECRETS_N_KEYS 8

/* The keys gen-secrets fills or appends, in the order it appends them,
 * NULL-terminated. */
extern const char *const gensecrets_keys[GENSECRETS_N_KEYS + 1];

/* Whether value is a placeholder to replace: empty, change-me..., changeme...,
 * or the example file's demo-only-... */
bool gensecrets_is_placeholder(const char *value);

/* Writes 64 lower-case hex characters and a NUL; returns 0 or negative. */
typedef int (*GenSecretsRandom)(char ret[65], void *userdata);
int gensecrets_random_hex(char ret[65], void *userdata); /* OpenSSL RAND_bytes */

/* What gensecrets_fill() did, as NULL-terminated lists of keys (pointers
 * into gensecrets_keys: nothing to free). */
typedef struct GenSecretsReport {
        const char *filled[GENSECRETS_N_KEYS + 1];   /* replaced in place, in file order */
        const char *appended[GENSECRETS_N_KEYS + 1]; /* were missing: added at the end */
        const char *skipped[GENSECRETS_N_KEYS + 1];  /* placeholders left alone: their last
                                                      * assignment is KEY+=... or expands a
                                                      * variable, so replacing its text would
                                                      * not give the value bash reads */
} GenSecretsReport;

/* Returns in *ret_text the new text (malloc'ed; the caller wipes it) for
 * text, which env was parsed from; *ret_report says what changed. Only the
 * last assignment of a key counts, as in bash. */
int gensecrets_fill(const char *text, size_t len, const EnvFile *env, GenSecretsRandom rnd, void *userdata,
                    char **ret_text, GenSecretsReport *ret_report);
