/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stage 1 of the pipeline: values.env text -> EnvFile, read as
 * `set -a; source values.env` in bash reads it, without ever running a shell.
 *
 * The reader follows bash's own layering: backslash-newline is removed
 * before tokenizing (except inside single quotes and comments), a line is a
 * list of blank-separated words, and a line is accepted only when every word
 * is an assignment (optionally after `export`). This file is that line
 * grammar; the words themselves (quotes, escapes, ${...}) are read by
 * envfile-expand.c. Anything bash would execute, redirect, background or
 * expand from the shell's own state is refused with FILE:LINE:COL and a
 * hint. Messages never quote a value: it may be a secret. Errors about an
 * expansion point at its `$`; other errors at the offending character.
 *
 * Choices where bash is valid but we could refuse: several assignments on
 * one line (`A=1 B=$A`) and `KEY+=value` are supported as bash does them;
 * `${VAR:+w}`/`${VAR+w}` are supported; a tilde bash would expand (start of
 * a value or a ${VAR:-word}, or after an unquoted ':') is refused, since its
 * value depends on $HOME and the user database.
 *
 * Every key is indexed as it is assigned (util/strindex), so expansions,
 * `+=` and envfile_get() cost the same in a file of 100k keys as in one of
 * ten: the whole parse is linear in the file.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envfile-internal.h"
#include "util/fs.h"

#define ENVFILE_MAX_SIZE (1024u * 1024u)

/* ---- reading ---------------------------------------------------------- */

static bool skip_blanks(Parser *p) {
        bool any = false;

        while (is_blank(cur(p))) {
                advance(p);
                any = true;
        }
        return any;
}

static void skip_comment(Parser *p) {
        while (p->pos < p->len && p->text[p->pos] != '\n')
                p->pos++;
}

char *envfile_read_name(Parser *p) {
        StrBuf b = { 0 };

        assert(p);

        if (is_name_start(cur(p)))
                while (is_name_char(cur(p))) {
                        strbuf_putc(&b, (char) cur(p));
                        advance(p);
                }
        return strbuf_steal(&b);
}

/* ---- diagnostics ------------------------------------------------------ */

int envfile_error(Parser *p, Pos at, const char *hint, const char *format, ...) {
        va_list ap;
        int r;

        assert(p);
        assert(format);

        va_start(ap, format);
        r = diag_addv(p->diags, DIAG_ERROR, p->path, at.line, at.col, hint, format, ap);
        va_end(ap);
        return r < 0 ? r : -EINVAL; /* a lost one sets p->diags->oom */
}

const char *envfile_key_hint(const Parser *p, char *buf, size_t size, const char *before, const char *after) {
        const char *k;

        assert(p);
        assert(buf);
        assert(size > 0);
        assert(before);
        assert(after);

        k = p->key && strlen(p->key) <= 64 ? p->key : "KEY";
        snprintf(buf, size, "%s%s%s", before, k, after);
        return buf;
}

int envfile_metachar_error(Parser *p, int c) {
        char hint[160];
        const char *what;

        assert(p);

        switch (c) {
        case '&':
                what = "bash would start a background job there and run the rest of the line as a command";
                break;
        case ';':
                what = "bash would end the assignment there and run the rest of the line as a command";
                break;
        case '|':
                what = "bash would pipe into a command there";
                break;
        case '<':
        case '>':
                what = "bash would redirect a file there";
                break;
        default:
                what = "it is shell syntax (a subshell, an array or a function)";
        }
        return envfile_error(p, here(p), envfile_key_hint(p, hint, sizeof hint, QUOTE_HINT),
                    "unquoted \"%c\": %s", c, what);
}

/* ---- the variables so far --------------------------------------------- */

/* The value an expansion sees. `export` is a command: bash expands all of
 * its arguments before assigning any, so `export A=1 B=$A` reads the old A;
 * a plain `A=1 B=$A` assigns left to right. */
const EnvEntry *envfile_lookup(const Parser *p, const char *name) {
        size_t n, i;

        assert(p);
        assert(name);

        n = p->export_line ? p->line_first_entry : p->file->n_entries;
        i = strindex_get(p->file->index, name);
        while (i != STRINDEX_NONE && i >= n)
                i = p->prev[i];
        return i != STRINDEX_NONE ? &p->file->entries[i] : NULL;
}

static int grow_entries(Parser *p) {
        EnvFile *f = p->file;
        size_t n = p->allocated ? p->allocated * 2 : 16;
        EnvEntry *e;
        size_t *prev;

        e = reallocarray(f->entries, n, sizeof *e);
        if (!e)
                return -ENOMEM;
        f->entries = e;
        prev = reallocarray(p->prev, n, sizeof *prev);
        if (!prev)
                return -ENOMEM;
        p->prev = prev;
        p->allocated = n;
        return 0;
}

/* Takes key and value on success. */
static int add_entry(Parser *p, char *key, char *value, Pos kpos, Pos vpos, size_t start, bool append) {
        EnvFile *f = p->file;
        size_t i = f->n_entries, old;
        int r;

        if (i == p->allocated && (r = grow_entries(p)) < 0)
                return r;
        r = strindex_put(f->index, key, i, &old);
        if (r < 0)
                return r;
        p->prev[i] = old;
        f->entries[i] = (EnvEntry) {
                .key = key,
                .value = value,
                .line = kpos.line,
                .col = kpos.col,
                .value_col = vpos.col,
                .value_start = start,
                .value_end = p->pos,
                .exported = p->export_line,
                .append = append,
        };
        f->n_entries++;
        return 0;
}

/* ---- lines ------------------------------------------------------------ */

/* The word at the current position is not NAME= or NAME+=: say why. */
static int not_assignment_error(Parser *p) {
        const char *t = p->text;
        size_t i = p->pos, j = i, k;
        Pos at = here(p);

        while (j < p->len && is_name_char(t[j]))
                j++;
        k = j;
        while (k < p->len && is_blank(t[k]))
                k++;
        if (j > i && !(t[i] >= '0' && t[i] <= '9') && k > j && k < p->len &&
            (t[k] == '=' || (t[k] == '+' && k + 1 < p->len && t[k + 1] == '=')))
                return envfile_error(p, (Pos) { at.line, at.col + (unsigned) (j - i) },
                            "write KEY=value with no blanks around \"=\"",
                            "blank before \"=\": bash would run the key as a command");
        if (p->export_line && j > i && (j == p->len || is_blank(t[j]) || t[j] == '\n'))
                return envfile_error(p, at, "write export KEY=value",
                            "\"export KEY\" without \"=value\" is not supported");
        for (k = i; k < p->len && !is_blank(t[k]) && t[k] != '\n' && t[k] != '='; k++)
                ;
        if (k > i && k < p->len && t[k] == '=') {
                size_t off = t[i] >= '0' && t[i] <= '9' ? i : j;
                return envfile_error(p, (Pos) { at.line, at.col + (unsigned) (off - i) },
                            "keys are letters, digits and \"_\" and do not start with a digit",
                            "invalid key name");
        }
        return envfile_error(p, at, "values.env holds only KEY=value lines, \"export KEY=value\" and comments",
                    "not a KEY=value assignment; values.env is not executed");
}

/* Whether the word at the current position starts with NAME= or NAME+=. */
static bool at_assignment(Parser *p) {
        Parser saved = *p;
        bool ok = false;
        int c;

        if (is_name_start(cur(p))) {
                while (is_name_char(cur(p)))
                        advance(p);
                c = cur(p);
                if (c == '+') {
                        advance(p);
                        c = cur(p);
                }
                ok = c == '=';
        }
        *p = saved;
        return ok;
}


static int parse_value(Parser *p, const char *key, bool append, StrBuf *v) {
        const EnvEntry *old = append ? envfile_get(p->file, key) : NULL;
        int r;

        if (old && old->value[0]) {
                /* each entry keeps its own copy: count it, as A+=x repeated
                 * copies the value once per line */
                r = envfile_count_expansion(p, strlen(old->value), here(p));
                if (r < 0)
                        return r;
                strbuf_puts(v, old->value);
        }
        return envfile_parse_word(p, v, WORD_TOP, here(p));
}

/* NAME=value or NAME+=value at the current position. */
static int parse_assignment(Parser *p, bool *ret_empty) {
        _cleanup_free_ char *key = NULL;
        StrBuf v = { 0 };
        Pos kpos = here(p), vpos;
        bool append = false;
        size_t start;
        char *value;
        int r;

        if (!at_assignment(p))
                return not_assignment_error(p);
        key = envfile_read_name(p);
        if (!key)
                return -ENOMEM;
        if (cur(p) == '+') {
                append = true;
                advance(p);
        }
        cur(p);
        advance(p); /* '=' */
        if (envfile_is_shell_var(key))
                return envfile_error(p, kpos, "choose another name",
                            "\"%.64s\" is set by bash itself and cannot be assigned here", key);
        vpos = here(p);
        start = p->pos;
        p->key = key;
        r = parse_value(p, key, append, &v);
        p->key = NULL;
        if (r >= 0 && v.oom)
                r = -ENOMEM;
        value = r < 0 ? NULL : strbuf_steal(&v);
        if (!value) {
                if (v.s)
                        explicit_bzero(v.s, v.len);
                strbuf_free(&v);
                return r < 0 ? r : -ENOMEM;
        }
        r = add_entry(p, key, value, kpos, vpos, start, append);
        if (r < 0) {
                explicit_bzero(value, strlen(value));
                free(value);
                return r;
        }
        key = NULL;
        *ret_empty = p->pos == start;
        return 0;
}

static int trailing_word_error(Parser *p, bool value_empty) {
        char hint[160];
        const char *then = p->export_line ? "export the next word as a variable name"
                                           : "run the next word as a command";

        envfile_key_hint(p, hint, sizeof hint, "quote the value if it contains blanks: ", "='...'");
        if (value_empty)
                return envfile_error(p, here(p), hint,
                            "blank after \"=\": bash would assign an empty value and %s", then);
        return envfile_error(p, here(p), hint, "unquoted blank ends the value: bash would %s", then);
}

/* "export" followed by a blank, a newline or EOF: consumes it. */
static bool match_export(Parser *p) {
        Parser saved = *p;
        int c;

        for (const char *s = "export"; *s; s++) {
                if (cur(p) != *s) {
                        *p = saved;
                        return false;
                }
                advance(p);
        }
        c = cur(p);
        if (c < 0 || c == '\n' || is_blank(c)) {
                skip_blanks(p);
                return true;
        }
        *p = saved;
        return false;
}

/* The assignments of one line, after "export" if any. */
static int parse_assignments(Parser *p) {
        for (;;) {
                bool empty = false, blank;
                int c, r;

                c = cur(p);
                if (is_meta(c))
                        return envfile_metachar_error(p, c);
                r = parse_assignment(p, &empty);
                if (r < 0)
                        return r;
                blank = skip_blanks(p);
                c = cur(p);
                if (blank && c == '#')
                        skip_comment(p);
                if (c < 0 || c == '\n' || (blank && c == '#'))
                        return 0;
                if (is_meta(c))
                        return envfile_metachar_error(p, c);
                if (!at_assignment(p)) {
                        const EnvEntry *last = &p->file->entries[p->file->n_entries - 1];
                        p->key = last->key;
                        r = trailing_word_error(p, empty);
                        p->key = NULL;
                        return r;
                }
        }
}

static int parse_line(Parser *p) {
        Pos start;
        int c, r;

        skip_blanks(p);
        c = cur(p);
        if (c == '#')
                skip_comment(p);
        else if (c >= 0 && c != '\n') {
                start = here(p);
                p->line_first_entry = p->file->n_entries;
                p->export_line = match_export(p);
                c = cur(p);
                if (p->export_line && (c < 0 || c == '\n' || c == '#'))
                        return envfile_error(p, start, "write export KEY=value",
                                    "\"export\" without an assignment is not supported");
                r = parse_assignments(p);
                if (r < 0)
                        return r;
        }
        if (cur(p) == '\n')
                advance(p);
        return 0;
}

/* NUL bytes and CR line endings are refused before parsing. Returns the
 * number of lines. */
static int prescan(Parser *p) {
        unsigned line = 1;
        size_t ls = 0;

        if (p->len > ENVFILE_MAX_SIZE)
                return envfile_error(p, (Pos) { 0, 0 }, "values.env holds a few dozen settings", "file is larger than 1 MiB");
        for (size_t i = 0; i < p->len; i++) {
                Pos at = { line, (unsigned) (i - ls + 1) };

                if (p->text[i] == 0)
                        return envfile_error(p, at, "remove it; values.env is a text file", "NUL byte in file");
                if (p->text[i] == '\r' && (i + 1 == p->len || p->text[i + 1] == '\n'))
                        return envfile_error(p, at, "convert the file with dos2unix",
                                    "line ends with CR (DOS line ending); bash would keep the CR in the value");
                if (p->text[i] == '\n') {
                        line++;
                        ls = i + 1;
                }
        }
        return (int) line;
}

int envfile_parse(const char *path, const char *text, size_t len, EnvFile **ret, DiagList *diags) {
        _cleanup_(envfile_freep) EnvFile *f = NULL;
        Parser p;
        int r;

        assert(text || len == 0);
        assert(ret);
        assert(diags);

        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->path = strdup(path ? path : "values.env");
        if (!f->path)
                return -ENOMEM;
        r = strindex_new(&f->index);
        if (r < 0)
                return r;
        p = (Parser) { .path = f->path, .text = text, .len = len, .line = 1, .diags = diags, .file = f };

        r = prescan(&p);
        if (r > 0)
                (void) strindex_reserve(f->index, (size_t) r); /* mostly one key per line */
        while (r >= 0 && p.pos < p.len)
                r = parse_line(&p);
        free(p.prev);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(f);
        return 0;
}

int envfile_read(const char *path, char **ret, size_t *ret_len, DiagList *diags) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        assert(path);
        assert(ret);
        assert(diags);

        /* O_NONBLOCK: opening a FIFO for reading would wait for a writer. */
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode)) {
                r = diag_add(diags, DIAG_ERROR, path, 0, 0,
                             "values.env must be a regular file (or a symlink to one); nothing is read from it",
                             "not a regular file");
                return r < 0 ? r : -EINVAL;
        }
        r = read_full_fd(fd, ENVFILE_MAX_SIZE, ret, ret_len);
        if (r == -EFBIG) {
                r = diag_add(diags, DIAG_ERROR, path, 0, 0, "values.env holds a few dozen settings",
                             "file is larger than 1 MiB");
                return r < 0 ? r : -EINVAL;
        }
        return r;
}

int envfile_load(const char *path, EnvFile **ret, DiagList *diags) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r;

        assert(path);
        assert(ret);
        assert(diags);

        r = envfile_read(path, &text, &len, diags);
        if (r < 0)
                return r;
        r = envfile_parse(path, text, len, ret, diags);
        explicit_bzero(text, len);
        return r;
}

const EnvEntry *envfile_get(const EnvFile *f, const char *key) {
        size_t i;

        assert(f);
        assert(key);

        if (f->index) {
                i = strindex_get(f->index, key);
                return i != STRINDEX_NONE ? &f->entries[i] : NULL;
        }
        for (i = f->n_entries; i > 0; i--)
                if (streq(f->entries[i - 1].key, key))
                        return &f->entries[i - 1];
        return NULL;
}

const char *envfile_value(const EnvFile *f, const char *key) {
        const EnvEntry *e;

        assert(f);
        assert(key);

        e = envfile_get(f, key);
        return e ? e->value : NULL;
}

EnvFile *envfile_free(EnvFile *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n_entries; i++) {
                free(f->entries[i].key);
                explicit_bzero(f->entries[i].value, strlen(f->entries[i].value));
                free(f->entries[i].value);
        }
        free(f->entries);
        strindex_free(f->index);
        free(f->path);
        free(f);
        return NULL;
}
