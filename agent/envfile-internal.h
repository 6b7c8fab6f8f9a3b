/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the values.env reader: the parser state and the primitives that
 * envfile.c (lines, assignments, the file) and envfile-expand.c (words:
 * quotes, escapes and ${...} expansion) share. Nothing outside those two
 * files includes this.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "envfile.h"
#include "util/strbuf.h"

/* Expansion can grow a value past the file's size (A=$A$A...): cap the
 * total, so a bad file costs bounded memory. */
#define ENVFILE_MAX_EXPANDED (16u * 1024u * 1024u)

/* ${A:-${B:-...}} recurses; bound the depth so no file can exhaust the stack. */
#define ENVFILE_MAX_NESTING 32

#define QUOTE_HINT "quote it with single quotes if it is meant literally: ", "='...'"

typedef struct Pos {
        unsigned line;
        unsigned col;
} Pos;

typedef enum WordCtx {
        WORD_TOP,      /* the value itself: ends at a blank or newline */
        WORD_BRACE,    /* the word of ${VAR:-word} outside double quotes */
        WORD_BRACE_DQ, /* the same inside double quotes */
} WordCtx;

typedef struct Parser {
        const char *path;
        const char *text;
        size_t len;
        size_t pos;
        size_t line_start; /* offset of the current line's first byte */
        unsigned line;
        DiagList *diags;
        EnvFile *file;
        size_t allocated;
        size_t *prev;    /* per entry: the earlier entry of its key, or STRINDEX_NONE */
        size_t expanded; /* bytes produced by expansions so far */
        unsigned depth;  /* of nested ${...} */
        size_t line_first_entry; /* entries before the current line */
        const char *key; /* key being assigned, for hints; NULL between */
        bool export_line;
} Parser;

static inline bool is_name_start(int c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline bool is_name_char(int c) {
        return is_name_start(c) || (c >= '0' && c <= '9');
}

static inline bool is_blank(int c) {
        return c == ' ' || c == '\t';
}

static inline bool is_meta(int c) {
        return c > 0 && strchr(";&|<>()", c);
}

static inline Pos here(const Parser *p) {
        return (Pos) { p->line, (unsigned) (p->pos - p->line_start + 1) };
}

static inline void advance(Parser *p) {
        if (p->pos >= p->len)
                return;
        if (p->text[p->pos] == '\n') {
                p->line++;
                p->line_start = p->pos + 1;
        }
        p->pos++;
}

/* The current character with backslash-newline pairs skipped (bash removes
 * them before tokenizing, outside single quotes and comments); -1 at EOF. */
static inline int cur(Parser *p) {
        while (p->pos + 1 < p->len && p->text[p->pos] == '\\' && p->text[p->pos + 1] == '\n') {
                p->pos += 2;
                p->line++;
                p->line_start = p->pos;
        }
        return p->pos < p->len ? (unsigned char) p->text[p->pos] : -1;
}

/* The raw character after the current one, or -1. */
static inline int next_raw(const Parser *p) {
        return p->pos + 1 < p->len ? (unsigned char) p->text[p->pos + 1] : -1;
}

/* Reads [A-Za-z_][A-Za-z0-9_]* (continuations allowed, as in bash).
 * Returns a malloc'ed name, "" when there is none, NULL on OOM. */
char *envfile_read_name(Parser *p);

/* Adds an error at `at` and returns -EINVAL (or -ENOMEM). */
int envfile_error(Parser *p, Pos at, const char *hint, const char *format, ...) _printf_(4, 5);

/* A hint naming the key being assigned (keys are not secret). */
const char *envfile_key_hint(const Parser *p, char *buf, size_t size, const char *before, const char *after);

/* The entry an expansion of name sees at this point, or NULL. */
const EnvEntry *envfile_lookup(const Parser *p, const char *name);

/* Whether bash sets name itself (so it cannot be read or assigned here). */
bool envfile_is_shell_var(const char *name);

/* An unquoted ; & | < > ( ) at the current position. */
int envfile_metachar_error(Parser *p, int c);

/* Counts n bytes of expansion output against ENVFILE_MAX_EXPANDED. */
int envfile_count_expansion(Parser *p, size_t n, Pos at);

/* envfile-expand.c: a value (WORD_TOP: up to a blank or newline) or the word
 * of ${VAR:-word} (up to the closing "}" of the expansion opened at open),
 * appended to out after quote removal and expansion; out NULL: parse only. */
int envfile_parse_word(Parser *p, StrBuf *out, WordCtx ctx, Pos open);
