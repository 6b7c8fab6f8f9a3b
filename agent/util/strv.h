/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable list of malloc'ed strings. Its strings are zeroed when the
 * list is cleared (a list may hold secrets; the others cost nothing).
 */
#pragma once

#include <stddef.h>

#include "util/macro.h"

typedef struct Strv {
        char **items;
        size_t n;
} Strv;

/* Appends s, taking it over; NULL (a failed strdup) or no memory: -ENOMEM,
 * s freed. */
int strv_push(Strv *l, char *s);
/* Sorts with strcmp. */
void strv_sort(Strv *l);
/* Zeroes and frees every string and the list; l is empty after. */
void strv_clear(Strv *l);
