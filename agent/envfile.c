/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stage 1 of the pipeline: values.env text -> EnvFile, read as
 * `set -a; source values.env` in bash reads it, without ever running a shell.
 *
 * The reader follows bash's own layering: backslash-newline is removed
 * before tokenizing (except inside single quotes and comments), a line is a
 * list of blank-separated words, and a line is accepted only when every word
 * is an assignment (optionally after `export`). Anything bash would execute,
 * redirect, background or expand from the shell's own state is refused with
 * FILE:LINE:COL and a hint. Messages never quote a value: it may be a secret.
 * Errors about an expansion point at its `$`; other errors at the offending
 * character.
 *
 * Choices where bash is valid but we could refuse: several assignments on
 * one line (`A=1 B=$A`) and `KEY+=value` are supported as bash does them;
 * `${VAR:+w}`/`${VAR+w}` are supported; a tilde bash would expand (start of
 * a value or a ${VAR:-word}, or after an unquoted ':') is refused, since its
 * value depends on $HOME and the user database.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envfile.h"
#include "util/fs.h"
#include "util/strbuf.h"

#define ENVFILE_MAX_SIZE (1024u * 1024u)
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
        size_t expanded; /* bytes produced by expansions so far */
        unsigned depth;  /* of nested ${...} */
        size_t line_first_entry; /* entries before the current line */
        const char *key; /* key being assigned, for hints; NULL between */
        bool export_line;
} Parser;

/* Bash sets these itself (some are read-only, some change on every read). */
static const char *const shell_vars[] = {
        "_", "BASHOPTS", "BASHPID", "BASH_ARGC", "BASH_ARGV", "BASH_ARGV0",
        "BASH_COMMAND", "BASH_LINENO", "BASH_SOURCE", "BASH_SUBSHELL",
        "BASH_VERSINFO", "EPOCHREALTIME", "EPOCHSECONDS", "EUID", "FUNCNAME",
        "GROUPS", "HISTCMD", "LINENO", "PPID", "RANDOM", "SECONDS",
        "SHELLOPTS", "SRANDOM", "UID",
};

static bool is_name_start(int c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(int c) {
        return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool is_blank(int c) {
        return c == ' ' || c == '\t';
}

static bool is_meta(int c) {
        return c > 0 && strchr(";&|<>()", c);
}

static bool is_shell_var(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(shell_vars); i++)
                if (streq(name, shell_vars[i]))
                        return true;
        return false;
}

/* ---- reading ---------------------------------------------------------- */

static Pos here(const Parser *p) {
        return (Pos) { p->line, (unsigned) (p->pos - p->line_start + 1) };
}

static void advance(Parser *p) {
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
static int cur(Parser *p) {
        while (p->pos + 1 < p->len && p->text[p->pos] == '\\' && p->text[p->pos + 1] == '\n') {
                p->pos += 2;
                p->line++;
                p->line_start = p->pos;
        }
        return p->pos < p->len ? (unsigned char) p->text[p->pos] : -1;
}

/* The raw character after the current one, or -1. */
static int next_raw(const Parser *p) {
        return p->pos + 1 < p->len ? (unsigned char) p->text[p->pos + 1] : -1;
}

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

/* Reads [A-Za-z_][A-Za-z0-9_]* (continuations allowed, as in bash).
 * Returns a malloc'ed name, "" when there is none, NULL on OOM. */
static char *read_name(Parser *p) {
        StrBuf b = { 0 };

        if (is_name_start(cur(p)))
                while (is_name_char(cur(p))) {
                        strbuf_putc(&b, (char) cur(p));
                        advance(p);
                }
        return strbuf_steal(&b);
}

/* ---- diagnostics ------------------------------------------------------ */

static int perr(Parser *p, Pos at, const char *hint, const char *format, ...) _printf_(4, 5);
static int perr(Parser *p, Pos at, const char *hint, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&msg, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        r = diag_add(p->diags, DIAG_ERROR, p->path, at.line, at.col, hint, "%s", msg);
        return r < 0 ? r : -EINVAL;
}

/* A hint naming the key being assigned (keys are not secret). */
static const char *key_hint(const Parser *p, char *buf, size_t size, const char *before, const char *after) {
        const char *k = p->key && strlen(p->key) <= 64 ? p->key : "KEY";

        snprintf(buf, size, "%s%s%s", before, k, after);
        return buf;
}

static int metachar_error(Parser *p, int c) {
        char hint[160];
        const char *what;

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
        return perr(p, here(p), key_hint(p, hint, sizeof hint, QUOTE_HINT),
                    "unquoted \"%c\": %s", c, what);
}

static int expansion_error(Parser *p, Pos at, const char *construct, const char *what) {
        char hint[160];

        return perr(p, at, key_hint(p, hint, sizeof hint, QUOTE_HINT),
                    "%s \"%s\" is not allowed; values.env is not executed", what, construct);
}

static int special_error(Parser *p, Pos at, const char *name) {
        char hint[160];

        return perr(p, at, key_hint(p, hint, sizeof hint, QUOTE_HINT),
                    "%s \"$%.64s\" is not allowed; its value depends on the shell",
                    strlen(name) > 1 ? "shell variable" : "special parameter", name);
}

/* ---- words ------------------------------------------------------------ */

static void emit(StrBuf *out, char c) {
        if (out)
                strbuf_putc(out, c);
}

static int emit_expansion(Parser *p, StrBuf *out, const char *s, Pos at) {
        size_t n = strlen(s);

        if (!out || n == 0)
                return 0;
        p->expanded += n;
        if (p->expanded > ENVFILE_MAX_EXPANDED)
                return perr(p, at, "do not build values by repeated self-reference",
                            "expanded values exceed 16 MiB");
        strbuf_putn(out, s, n);
        return 0;
}

/* The value an expansion sees. `export` is a command: bash expands all of
 * its arguments before assigning any, so `export A=1 B=$A` reads the old A;
 * a plain `A=1 B=$A` assigns left to right. */
static const EnvEntry *lookup(const Parser *p, const char *name) {
        size_t n = p->export_line ? p->line_first_entry : p->file->n_entries;

        for (size_t i = n; i > 0; i--)
                if (streq(p->file->entries[i - 1].key, name))
                        return &p->file->entries[i - 1];
        return NULL;
}

static int parse_word(Parser *p, StrBuf *out, WordCtx ctx, Pos open);
static int parse_dollar(Parser *p, StrBuf *out, bool in_dq);

static int parse_squote(Parser *p, StrBuf *out) {
        Pos open = here(p);

        advance(p);
        for (;;) {
                if (p->pos >= p->len)
                        return perr(p, open, "add the closing \"'\"; a quoted value may span lines",
                                    "unterminated single quote");
                if (p->text[p->pos] == '\'') {
                        advance(p);
                        return 0;
                }
                emit(out, p->text[p->pos]);
                advance(p);
        }
}

/* A backslash at the current position. In double quotes it escapes only
 * $ ` " \ (and } inside ${...}); elsewhere it escapes any character. */
static void parse_backslash(Parser *p, StrBuf *out, bool in_dq, bool in_brace) {
        int n = next_raw(p);

        if (n < 0 || (in_dq && !strchr(in_brace ? "$`\"\\}" : "$`\"\\", n))) {
                emit(out, '\\');
                advance(p);
                return;
        }
        advance(p);
        emit(out, (char) n);
        advance(p);
}

static int parse_dquote(Parser *p, StrBuf *out) {
        Pos open = here(p);
        int c, r;

        advance(p);
        for (;;) {
                c = cur(p);
                if (c < 0)
                        return perr(p, open, "add the closing '\"'; a quoted value may span lines",
                                    "unterminated double quote");
                if (c == '"') {
                        advance(p);
                        return 0;
                }
                if (c == '`')
                        return expansion_error(p, here(p), "`", "command substitution");
                if (c == '\\')
                        parse_backslash(p, out, true, false);
                else if (c == '$') {
                        r = parse_dollar(p, out, true);
                        if (r < 0)
                                return r;
                } else {
                        emit(out, (char) c);
                        advance(p);
                }
        }
}

static int expand_name(Parser *p, StrBuf *out, const char *name, Pos at) {
        const EnvEntry *e;
        char hint[200];

        if (is_shell_var(name))
                return special_error(p, at, name);
        e = lookup(p, name);
        if (e)
                return emit_expansion(p, out, e->value, at);
        if (!out)
                return 0;
        snprintf(hint, sizeof hint, "assign it above this line, or give a default: ${%.64s:-value}", name);
        return diag_add(p->diags, DIAG_WARNING, p->path, at.line, at.col, hint,
                        "\"$%.64s\" is not assigned earlier in this file; it expands to an empty string",
                        name);
}

static int unsupported_expansion(Parser *p, Pos at, const char *name, bool colon, int c) {
        const char *hint = "supported: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:+alt}, ${VAR+alt}";

        if (c < 0 || !memchr(p->text + p->pos, '}', p->len - p->pos))
                return perr(p, at, "close it with \"}\"", "unterminated \"${\"");
        if (c > ' ' && c < 127)
                return perr(p, at, hint, "parameter expansion \"${%.64s%s%c\" is not supported",
                            name, colon ? ":" : "", c);
        return perr(p, at, hint, "parameter expansion \"${%.64s%s\" is not supported", name,
                    colon ? ":" : "");
}

/* After "${NAME": "}" or one of :- - :+ + and a word up to "}". */
static int parse_brace_op(Parser *p, StrBuf *out, bool in_dq, Pos at, const char *name) {
        const EnvEntry *e;
        bool colon = false, use_word, set, nonempty;
        int c = cur(p), op, r;

        if (c == '}') {
                advance(p);
                return expand_name(p, out, name, at);
        }
        if (c == ':') {
                colon = true;
                advance(p);
                c = cur(p);
        }
        if (c != '-' && c != '+')
                return unsupported_expansion(p, at, name, colon, c);
        op = c;
        advance(p);

        e = lookup(p, name);
        set = e != NULL;
        nonempty = e && e->value[0];
        if (op == '-')
                use_word = colon ? !nonempty : !set;
        else
                use_word = colon ? nonempty : set;
        if (op == '-' && !use_word) {
                r = emit_expansion(p, out, e->value, at);
                if (r < 0)
                        return r;
        }
        return parse_word(p, use_word ? out : NULL, in_dq ? WORD_BRACE_DQ : WORD_BRACE, at);
}

static int parse_brace(Parser *p, StrBuf *out, bool in_dq, Pos at) {
        _cleanup_free_ char *name = NULL;
        char special[2] = { 0 };
        int c, r;

        advance(p); /* '{' */
        c = cur(p);
        if (c == '#' || c == '!') {
                char construct[4] = { '$', '{', (char) c, 0 };
                return perr(p, at, "supported: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:+alt}, ${VAR+alt}",
                            "parameter expansion \"%s\" is not supported", construct);
        }
        if (c > 0 && strchr("0123456789@*?-$", c)) {
                special[0] = (char) c;
                return special_error(p, at, special);
        }
        if (c < 0)
                return perr(p, at, "close it with \"}\"", "unterminated \"${\"");
        if (!is_name_start(c))
                return perr(p, at, "write ${VAR} with a variable name",
                            "bad substitution: \"${\" must be followed by a variable name");
        name = read_name(p);
        if (!name)
                return -ENOMEM;
        if (is_shell_var(name))
                return special_error(p, at, name);
        if (p->depth >= ENVFILE_MAX_NESTING)
                return perr(p, at, "simplify the expression", "parameter expansions nested more than 32 deep");
        p->depth++;
        r = parse_brace_op(p, out, in_dq, at, name);
        p->depth--;
        return r;
}

static int parse_dollar(Parser *p, StrBuf *out, bool in_dq) {
        _cleanup_free_ char *name = NULL;
        Pos at = here(p);
        char special[2] = { 0 };
        int c;

        advance(p);
        c = cur(p);
        if (c == '{')
                return parse_brace(p, out, in_dq, at);
        if (c == '(') {
                advance(p);
                if (cur(p) == '(')
                        return expansion_error(p, at, "$((", "arithmetic expansion");
                return expansion_error(p, at, "$(", "command substitution");
        }
        if (c == '[')
                return expansion_error(p, at, "$[", "arithmetic expansion");
        if (is_name_start(c)) {
                name = read_name(p);
                if (!name)
                        return -ENOMEM;
                return expand_name(p, out, name, at);
        }
        if (c > 0 && strchr("0123456789@*#?-$!", c)) {
                special[0] = (char) c;
                return special_error(p, at, special);
        }
        if (!in_dq && c == '\'')
                return perr(p, at, "use plain single quotes, or double quotes for escapes",
                            "ANSI-C quoting \"$'\" is not supported");
        if (!in_dq && c == '"')
                return perr(p, at, "drop the \"$\" before the double quote",
                            "locale translation \"$\\\"\" is not supported");
        emit(out, '$'); /* a lone "$" is literal */
        return 0;
}

static int tilde_error(Parser *p) {
        char hint[160];

        return perr(p, here(p), key_hint(p, hint, sizeof hint, "write the path out, or quote it if it is meant literally: ", "='~...'"),
                    "unquoted \"~\" at the start of a value or after \":\" is expanded by bash to a home directory");
}

static int brace_error(Parser *p) {
        char hint[160];

        return perr(p, here(p), key_hint(p, hint, sizeof hint, QUOTE_HINT),
                    "unquoted \"{\" after \"export\": bash may brace-expand it");
}

/* One character (or quoted/expanded unit) of a word; *colon tells whether it
 * was an unquoted ':' (after which bash expands a tilde). */
static int parse_word_unit(Parser *p, StrBuf *out, WordCtx ctx, int c, bool tilde_here, bool *colon) {
        *colon = false;
        switch (c) {
        case '\\':
                parse_backslash(p, out, ctx == WORD_BRACE_DQ, true);
                return 0;
        case '\'':
                if (ctx == WORD_BRACE_DQ)
                        break;
                return parse_squote(p, out);
        case '"':
                return parse_dquote(p, out);
        case '$':
                return parse_dollar(p, out, ctx == WORD_BRACE_DQ);
        case '`':
                return expansion_error(p, here(p), "`", "command substitution");
        case '~':
                if (tilde_here && ctx != WORD_BRACE_DQ)
                        return tilde_error(p);
                break;
        case '{':
                if (ctx == WORD_TOP && p->export_line)
                        return brace_error(p);
                break;
        case ':':
                *colon = ctx != WORD_BRACE_DQ;
                break;
        }
        emit(out, (char) c);
        advance(p);
        return 0;
}

/* A value (WORD_TOP: up to a blank or newline) or the word of ${VAR:-word}
 * (up to the closing "}" of the expansion starting at open). */
static int parse_word(Parser *p, StrBuf *out, WordCtx ctx, Pos open) {
        bool tilde_here = true, colon;

        for (;;) {
                int c = cur(p), r;

                if (ctx == WORD_TOP && (c < 0 || is_blank(c) || c == '\n'))
                        return 0;
                if (c < 0)
                        return perr(p, open, "close it with \"}\"", "unterminated \"${\"");
                if (ctx != WORD_TOP && c == '}') {
                        advance(p);
                        return 0;
                }
                if (ctx == WORD_TOP && is_meta(c))
                        return metachar_error(p, c);
                r = parse_word_unit(p, out, ctx, c, tilde_here, &colon);
                if (r < 0)
                        return r;
                if (out && out->oom)
                        return -ENOMEM;
                tilde_here = colon;
        }
}

/* ---- lines ------------------------------------------------------------ */

static int add_entry(Parser *p, char *key, char *value, Pos kpos, Pos vpos) {
        EnvFile *f = p->file;

        if (f->n_entries == p->allocated) {
                size_t n = p->allocated ? p->allocated * 2 : 16;
                EnvEntry *e = realloc(f->entries, n * sizeof *e);
                if (!e)
                        return -ENOMEM;
                f->entries = e;
                p->allocated = n;
        }
        f->entries[f->n_entries++] = (EnvEntry) {
                .key = key,
                .value = value,
                .line = kpos.line,
                .col = kpos.col,
                .value_col = vpos.col,
                .exported = p->export_line,
        };
        return 0;
}

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
                return perr(p, (Pos) { at.line, at.col + (unsigned) (j - i) },
                            "write KEY=value with no blanks around \"=\"",
                            "blank before \"=\": bash would run the key as a command");
        if (p->export_line && j > i && (j == p->len || is_blank(t[j]) || t[j] == '\n'))
                return perr(p, at, "write export KEY=value",
                            "\"export KEY\" without \"=value\" is not supported");
        for (k = i; k < p->len && !is_blank(t[k]) && t[k] != '\n' && t[k] != '='; k++)
                ;
        if (k > i && k < p->len && t[k] == '=') {
                size_t off = t[i] >= '0' && t[i] <= '9' ? i : j;
                return perr(p, (Pos) { at.line, at.col + (unsigned) (off - i) },
                            "keys are letters, digits and \"_\" and do not start with a digit",
                            "invalid key name");
        }
        return perr(p, at, "values.env holds only KEY=value lines, \"export KEY=value\" and comments",
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

        if (old) {
                /* each entry keeps its own copy: count it, as A+=x repeated
                 * copies the value once per line */
                r = emit_expansion(p, v, old->value, here(p));
                if (r < 0)
                        return r;
        }
        return parse_word(p, v, WORD_TOP, here(p));
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
        key = read_name(p);
        if (!key)
                return -ENOMEM;
        if (cur(p) == '+') {
                append = true;
                advance(p);
        }
        cur(p);
        advance(p); /* '=' */
        if (is_shell_var(key))
                return perr(p, kpos, "choose another name",
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
        r = add_entry(p, key, value, kpos, vpos);
        if (r < 0) {
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

        key_hint(p, hint, sizeof hint, "quote the value if it contains blanks: ", "='...'");
        if (value_empty)
                return perr(p, here(p), hint,
                            "blank after \"=\": bash would assign an empty value and %s", then);
        return perr(p, here(p), hint, "unquoted blank ends the value: bash would %s", then);
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
                        return metachar_error(p, c);
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
                        return metachar_error(p, c);
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
                        return perr(p, start, "write export KEY=value",
                                    "\"export\" without an assignment is not supported");
                r = parse_assignments(p);
                if (r < 0)
                        return r;
        }
        if (cur(p) == '\n')
                advance(p);
        return 0;
}

/* NUL bytes and CR line endings are refused before parsing. */
static int prescan(Parser *p) {
        unsigned line = 1;
        size_t ls = 0;

        if (p->len > ENVFILE_MAX_SIZE)
                return perr(p, (Pos) { 0, 0 }, "values.env holds a few dozen settings", "file is larger than 1 MiB");
        for (size_t i = 0; i < p->len; i++) {
                Pos at = { line, (unsigned) (i - ls + 1) };

                if (p->text[i] == 0)
                        return perr(p, at, "remove it; values.env is a text file", "NUL byte in file");
                if (p->text[i] == '\r' && (i + 1 == p->len || p->text[i + 1] == '\n'))
                        return perr(p, at, "convert the file with dos2unix",
                                    "line ends with CR (DOS line ending); bash would keep the CR in the value");
                if (p->text[i] == '\n') {
                        line++;
                        ls = i + 1;
                }
        }
        return 0;
}

int envfile_parse(const char *path, const char *text, size_t len, EnvFile **ret, DiagList *diags) {
        _cleanup_(envfile_freep) EnvFile *f = NULL;
        Parser p;
        int r;

        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->path = strdup(path ? path : "values.env");
        if (!f->path)
                return -ENOMEM;
        p = (Parser) { .path = f->path, .text = text, .len = len, .line = 1, .diags = diags, .file = f };

        r = prescan(&p);
        if (r < 0)
                return r;
        while (p.pos < p.len) {
                r = parse_line(&p);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(f);
        return 0;
}

int envfile_read(const char *path, char **ret, size_t *ret_len, DiagList *diags) {
        int r = read_full_file(path, ENVFILE_MAX_SIZE, ret, ret_len);

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

        r = envfile_read(path, &text, &len, diags);
        if (r < 0)
                return r;
        r = envfile_parse(path, text, len, ret, diags);
        explicit_bzero(text, len);
        return r;
}

const EnvEntry *envfile_get(const EnvFile *f, const char *key) {
        if (!f || !key)
                return NULL;
        for (size_t i = f->n_entries; i > 0; i--)
                if (streq(f->entries[i - 1].key, key))
                        return &f->entries[i - 1];
        return NULL;
}

const char *envfile_value(const EnvFile *f, const char *key) {
        const EnvEntry *e = envfile_get(f, key);

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
        free(f->path);
        free(f);
        return NULL;
}
