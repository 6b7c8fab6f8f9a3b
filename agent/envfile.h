/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stage 1 of the pipeline: values.env text -> an ordered list of variables,
 * read exactly as `set -a; source values.env` in bash would read them for
 * the syntax people write (export, comments, quotes, escapes, $VAR, ${VAR},
 * ${VAR:-word}, ${VAR-word}), and refused with FILE:LINE:COL diagnostics for
 * what bash would execute instead of assign. Never runs a shell.
 *
 * Variables not assigned earlier in the file expand to "" (as bash under
 * `env -i`); the process environment is never consulted.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/diag.h"
#include "util/strindex.h"

typedef struct EnvEntry {
        char *key;
        char *value;     /* after quote removal and expansion */
        unsigned line;   /* of the key */
        unsigned col;    /* of the key (1-based) */
        unsigned value_col; /* of the first character after '=' */
        size_t value_start; /* byte offsets of the value as written (quotes, */
        size_t value_end;   /* escapes and all) in the parsed text: [start, end) */
        bool exported;   /* had an `export ` prefix */
        bool append;     /* KEY+=value: value holds the earlier value too */
} EnvEntry;

typedef struct EnvFile {
        char *path;        /* as given, used in diagnostics */
        EnvEntry *entries; /* in file order; a key assigned twice appears twice */
        size_t n_entries;
        StrIndex *index;   /* key -> its last entry; NULL in a file built by hand */
} EnvFile;

/* Parses text (len bytes, need not be NUL-terminated). On a syntax error
 * appends an error diagnostic to diags and returns -EINVAL; warnings (e.g. a
 * reference to a variable never assigned) are appended but do not fail.
 * *ret is written only on success. */
int envfile_parse(const char *path, const char *text, size_t len, EnvFile **ret, DiagList *diags);

/* Reads path (at most 1 MiB: larger is an error diagnostic and -EINVAL)
 * into a NUL-terminated buffer the caller frees (and should wipe). The file
 * is opened without blocking and must be a regular file (after symlinks): a
 * FIFO, a directory or a device is an error diagnostic and -EINVAL, never a
 * hang. -ENOENT (no diagnostic) when it does not exist. */
int envfile_read(const char *path, char **ret, size_t *ret_len, DiagList *diags);

/* Reads and parses path. -ENOENT when missing (no diagnostic added). */
int envfile_load(const char *path, EnvFile **ret, DiagList *diags);

/* The entry of the last assignment of key, or NULL. Constant time in a
 * parsed file (linear in one built by hand, which has no index). */
const EnvEntry *envfile_get(const EnvFile *f, const char *key);
/* Its value or NULL. */
const char *envfile_value(const EnvFile *f, const char *key);

EnvFile *envfile_free(EnvFile *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(EnvFile *, envfile_free);
