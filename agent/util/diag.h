/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Diagnostics about an input file: where (file:line:col), how bad, what is
 * wrong and how to fix it. The parser and the config rules collect them; the
 * CLI and the daemon print them. Stage modules never print them themselves.
 *
 * A list that failed to record a diagnostic (out of memory) remembers it and
 * counts that as an error, so a lost diagnostic can never make an invalid
 * file look valid. Printing escapes control characters C-style (util/escape.h):
 * a message or path may carry bytes from the file.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/macro.h"

typedef enum DiagSeverity {
        DIAG_ERROR,
        DIAG_WARNING,
        DIAG_NOTE,
} DiagSeverity;

typedef struct Diag {
        DiagSeverity severity;
        char *file;     /* as the user named it; may be NULL */
        unsigned line;  /* 1-based; 0 when the problem has no line (a missing key) */
        unsigned col;   /* 1-based; 0 when unknown */
        char *message;  /* never holds a secret value */
        char *hint;     /* how to fix it; may be NULL */
} Diag;

typedef struct DiagList {
        Diag *items;
        size_t n;
        size_t allocated;
        bool oom; /* a diagnostic was lost: counts as one error */
} DiagList;

/* Appends a diagnostic; returns 0 or -ENOMEM (and sets l->oom). */
int diag_add(DiagList *l, DiagSeverity severity, const char *file, unsigned line, unsigned col,
             const char *hint, const char *format, ...) _printf_(7, 8);
int diag_addv(DiagList *l, DiagSeverity severity, const char *file, unsigned line, unsigned col,
              const char *hint, const char *format, va_list ap) _printf_(7, 0);
/* How many of that severity; a lost diagnostic counts as one error. */
size_t diag_count(const DiagList *l, DiagSeverity severity);
static inline bool diag_has_errors(const DiagList *l) {
        return diag_count(l, DIAG_ERROR) > 0;
}
/* The first error (a static "out of memory" one when only that was lost),
 * or NULL when there is none. */
const Diag *diag_first_error(const DiagList *l);
/* Frees the items; the list itself may live on the stack. */
void diag_list_clear(DiagList *l);
/* "FILE:LINE:COL: severity: message" and, if any, an indented "hint:" line. */
void diag_print(const Diag *d, FILE *f);
/* Every diagnostic of l, then a line for a lost one. */
void diag_list_print(const DiagList *l, FILE *f);
/* "FILE:LINE:COL: message" in one line, for STATUS= and error returns.
 * Returns a malloc'ed string or NULL. */
char *diag_format_short(const Diag *d);
