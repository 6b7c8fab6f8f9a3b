/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable, always NUL-terminated byte string. Allocation failure is sticky:
 * once an append fails, strbuf_steal() returns NULL, so callers check once.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/macro.h"

typedef struct StrBuf {
        char *s;
        size_t len;
        size_t allocated;
        bool oom;
        bool wipe; /* set by the owner: growing zeroes the old buffer (it may hold a secret) */
} StrBuf;

void strbuf_putc(StrBuf *b, char c);
void strbuf_putn(StrBuf *b, const char *s, size_t n);
void strbuf_puts(StrBuf *b, const char *s);
void strbuf_printf(StrBuf *b, const char *format, ...) _printf_(2, 3);
/* Returns the string (never NULL unless out of memory) and resets b. */
char *strbuf_steal(StrBuf *b);
void strbuf_free(StrBuf *b);
