/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hash index from strings to positions (size_t), for tables that keep
 * their items in an array (in file order, say) and need to find one by name
 * in constant expected time. The index borrows its keys: each key must stay
 * valid and unchanged while it is indexed (a name owned by the array item).
 * There is no removal; putting a key again replaces its position.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"

#define STRINDEX_NONE SIZE_MAX

typedef struct StrIndex StrIndex;

int strindex_new(StrIndex **ret);
StrIndex *strindex_free(StrIndex *x);
DEFINE_TRIVIAL_CLEANUP_FUNC(StrIndex *, strindex_free);

/* Maps key to value (not STRINDEX_NONE). *ret_old (may be NULL) receives the
 * value key had, or STRINDEX_NONE. Returns 0 or -ENOMEM (index unchanged). */
int strindex_put(StrIndex *x, const char *key, size_t value, size_t *ret_old);

/* Makes room for n keys in all, so that many puts need no rehash.
 * Returns 0 or -ENOMEM (the index still works, only slower). */
int strindex_reserve(StrIndex *x, size_t n);

/* The value of key, or STRINDEX_NONE (also for a NULL index). */
size_t strindex_get(const StrIndex *x, const char *key);

/* How many keys are indexed. */
size_t strindex_size(const StrIndex *x);
