/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The words of values.env: quotes, backslash escapes and parameter expansion
 * (${VAR}, ${VAR:-word}, ${VAR-word}, ${VAR:+word}, ${VAR+word}, $VAR), as
 * bash reads them in an assignment. envfile.c splits a file into lines and
 * assignments and hands each value here. What bash would execute or take
 * from the shell's own state ($(...), `...`, $((...)), $$, $RANDOM...) is
 * refused with the position of its "$".
 *
 * Bash's quoting inside "${VAR:-word}" is layered, and followed here as
 * bash 5 does it: a single quote there is a literal character, yet it still
 * quotes a "}" up to the next single quote ("${B:-'}'}" is '}'); $'...' and
 * $"..." are quoting there as in an unquoted word, while in plain double
 * quotes they are literal. $'...' is read only without backslash escapes
 * (refused: bash's own scanner and its expander disagree about \' there),
 * and $"..." as "..." (bash translates it only through a message catalog
 * named by TEXTDOMAIN, so it is refused once the file sets TEXTDOMAIN).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envfile-internal.h"

/* Where a "$" stands: it means different things in each. */
typedef enum DollarCtx {
        DOLLAR_UNQUOTED, /* a value or an unquoted ${VAR:-word} */
        DOLLAR_DQ,       /* plain double quotes: $' and $" are literal */
        DOLLAR_BRACE_DQ, /* the word of ${VAR:-word} inside double quotes */
} DollarCtx;

/* Bash sets these itself (some are read-only, some change on every read). */
static const char *const shell_vars[] = {
        "_", "BASHOPTS", "BASHPID", "BASH_ARGC", "BASH_ARGV", "BASH_ARGV0",
        "BASH_COMMAND", "BASH_LINENO", "BASH_SOURCE", "BASH_SUBSHELL",
        "BASH_VERSINFO", "EPOCHREALTIME", "EPOCHSECONDS", "EUID", "FUNCNAME",
        "GROUPS", "HISTCMD", "LINENO", "PPID", "RANDOM", "SECONDS",
        "SHELLOPTS", "SRANDOM", "UID",
};

bool envfile_is_shell_var(const char *name) {
        assert(name);

        for (size_t i = 0; i < ELEMENTSOF(shell_vars); i++)
                if (streq(name, shell_vars[i]))
                        return true;
        return false;
}

/* ---- diagnostics ------------------------------------------------------ */

static int expansion_error(Parser *p, Pos at, const char *construct, const char *what) {
        char hint[160];

        return envfile_error(p, at, envfile_key_hint(p, hint, sizeof hint, QUOTE_HINT),
                             "%s \"%s\" is not allowed; values.env is not executed", what, construct);
}

static int special_error(Parser *p, Pos at, const char *name) {
        char hint[160];

        return envfile_error(p, at, envfile_key_hint(p, hint, sizeof hint, QUOTE_HINT),
                             "%s \"$%.64s\" is not allowed; its value depends on the shell",
                             strlen(name) > 1 ? "shell variable" : "special parameter", name);
}

static int tilde_error(Parser *p) {
        char hint[160];

        return envfile_error(p, here(p),
                             envfile_key_hint(p, hint, sizeof hint,
                                              "write the path out, or quote it if it is meant literally: ", "='~...'"),
                             "unquoted \"~\" at the start of a value or after \":\" is expanded by bash to a home "
                             "directory");
}

static int brace_error(Parser *p) {
        char hint[160];

        return envfile_error(p, here(p), envfile_key_hint(p, hint, sizeof hint, QUOTE_HINT),
                             "unquoted \"{\" after \"export\": bash may brace-expand it");
}

static int unterminated_squote(Parser *p, Pos open) {
        return envfile_error(p, open, "add the closing \"'\"; a quoted value may span lines",
                             "unterminated single quote");
}

/* ---- words ------------------------------------------------------------ */

static void emit(StrBuf *out, char c) {
        if (out)
                strbuf_putc(out, c);
}

int envfile_count_expansion(Parser *p, size_t n, Pos at) {
        assert(p);

        p->expanded += n;
        if (p->expanded > ENVFILE_MAX_EXPANDED)
                return envfile_error(p, at, "do not build values by repeated self-reference",
                                     "expanded values exceed 16 MiB");
        return 0;
}

static int emit_expansion(Parser *p, StrBuf *out, const char *s, Pos at) {
        size_t n = strlen(s);
        int r;

        if (!out || n == 0)
                return 0;
        r = envfile_count_expansion(p, n, at);
        if (r < 0)
                return r;
        strbuf_putn(out, s, n);
        return 0;
}

static int parse_dollar(Parser *p, StrBuf *out, DollarCtx ctx);

/* Offset of the next raw "'" at or after from, or -1. */
static long find_squote(const Parser *p, size_t from) {
        const char *q = from < p->len ? memchr(p->text + from, '\'', p->len - from) : NULL;

        return q ? (long) (q - p->text) : -1;
}

static int parse_squote(Parser *p, StrBuf *out) {
        Pos open = here(p);
        long end = find_squote(p, p->pos + 1);

        if (end < 0)
                return unterminated_squote(p, open);
        advance(p);
        while (p->pos < (size_t) end) {
                emit(out, p->text[p->pos]);
                advance(p);
        }
        advance(p);
        return 0;
}

/* $'...' at the current "'" (the "$" at `at`): its text, literally. */
static int parse_ansi_c(Parser *p, StrBuf *out, Pos at) {
        Pos open = here(p);
        long end = find_squote(p, p->pos + 1);

        if (end < 0)
                return unterminated_squote(p, open);
        if (memchr(p->text + p->pos, '\\', (size_t) end - p->pos))
                return envfile_error(p, at, "write the characters themselves between plain single quotes",
                                     "escape sequences in ANSI-C quoting \"$'...'\" are not supported");
        return parse_squote(p, out);
}

/* A backslash at the current position. In double quotes it escapes only
 * $ ` " \ (and } inside ${...}); elsewhere it escapes any character. In
 * the word of "${VAR:-word}" a backslash before "'" stays, but keeps that
 * quote from starting a quoted stretch: bash skips the pair when it looks
 * for the end of the word. */
static void parse_backslash(Parser *p, StrBuf *out, bool in_dq, bool in_brace) {
        int n = next_raw(p);

        if (in_dq && in_brace && n == '\'') {
                emit(out, '\\');
                advance(p);
                emit(out, '\'');
                advance(p);
                return;
        }
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
                        return envfile_error(p, open, "add the closing '\"'; a quoted value may span lines",
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
                        r = parse_dollar(p, out, DOLLAR_DQ);
                        if (r < 0)
                                return r;
                } else {
                        emit(out, (char) c);
                        advance(p);
                }
        }
}

/* $"..." at the current '"' (the "$" at `at`): read as "...". */
static int parse_locale(Parser *p, StrBuf *out, Pos at) {
        if (envfile_lookup(p, "TEXTDOMAIN") || envfile_lookup(p, "TEXTDOMAINDIR"))
                return envfile_error(p, at, "drop the \"$\" before the double quote",
                                     "locale translation $\"...\" after TEXTDOMAIN is set: bash may translate it");
        return parse_dquote(p, out);
}

static int expand_name(Parser *p, StrBuf *out, const char *name, Pos at) {
        const EnvEntry *e;
        char hint[200];

        if (envfile_is_shell_var(name))
                return special_error(p, at, name);
        e = envfile_lookup(p, name);
        if (e)
                return emit_expansion(p, out, e->value, at);
        if (!out)
                return 0;
        snprintf(hint, sizeof hint, "assign it above this line, or give a default: ${%.64s:-value}", name);
        return diag_add(p->diags, DIAG_WARNING, p->path, at.line, at.col, hint,
                        "\"$%.64s\" is not assigned earlier in this file; it expands to an empty string", name);
}

static int unsupported_expansion(Parser *p, Pos at, const char *name, bool colon, int c) {
        const char *hint = "supported: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:+alt}, ${VAR+alt}";

        if (c < 0 || !memchr(p->text + p->pos, '}', p->len - p->pos))
                return envfile_error(p, at, "close it with \"}\"", "unterminated \"${\"");
        if (c > ' ' && c < 127)
                return envfile_error(p, at, hint, "parameter expansion \"${%.64s%s%c\" is not supported", name,
                                     colon ? ":" : "", c);
        return envfile_error(p, at, hint, "parameter expansion \"${%.64s%s\" is not supported", name,
                             colon ? ":" : "");
}

static int parse_word(Parser *p, StrBuf *out, WordCtx ctx, Pos open);

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

        e = envfile_lookup(p, name);
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
                return envfile_error(p, at,
                                     "supported: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:+alt}, ${VAR+alt}",
                                     "parameter expansion \"%s\" is not supported", construct);
        }
        if (c > 0 && strchr("0123456789@*?-$", c)) {
                special[0] = (char) c;
                return special_error(p, at, special);
        }
        if (c < 0)
                return envfile_error(p, at, "close it with \"}\"", "unterminated \"${\"");
        if (!is_name_start(c))
                return envfile_error(p, at, "write ${VAR} with a variable name",
                                     "bad substitution: \"${\" must be followed by a variable name");
        name = envfile_read_name(p);
        if (!name)
                return -ENOMEM;
        if (envfile_is_shell_var(name))
                return special_error(p, at, name);
        if (p->depth >= ENVFILE_MAX_NESTING)
                return envfile_error(p, at, "simplify the expression", "parameter expansions nested more than 32 deep");
        p->depth++;
        r = parse_brace_op(p, out, in_dq, at, name);
        p->depth--;
        return r;
}

static int parse_dollar(Parser *p, StrBuf *out, DollarCtx ctx) {
        _cleanup_free_ char *name = NULL;
        Pos at = here(p);
        char special[2] = { 0 };
        int c;

        advance(p);
        c = cur(p);
        if (c == '{')
                return parse_brace(p, out, ctx != DOLLAR_UNQUOTED, at);
        if (c == '(') {
                advance(p);
                if (cur(p) == '(')
                        return expansion_error(p, at, "$((", "arithmetic expansion");
                return expansion_error(p, at, "$(", "command substitution");
        }
        if (c == '[')
                return expansion_error(p, at, "$[", "arithmetic expansion");
        if (is_name_start(c)) {
                name = envfile_read_name(p);
                if (!name)
                        return -ENOMEM;
                return expand_name(p, out, name, at);
        }
        if (c > 0 && strchr("0123456789@*#?-$!", c)) {
                special[0] = (char) c;
                return special_error(p, at, special);
        }
        if (ctx != DOLLAR_DQ && c == '\'')
                return parse_ansi_c(p, out, at);
        if (ctx != DOLLAR_DQ && c == '"')
                return parse_locale(p, out, at);
        emit(out, '$'); /* a lone "$" is literal */
        return 0;
}

/* A "'" in the word of "${VAR:-word}": literal, but up to the next "'" a
 * "}" does not end the word (bash finds the end of the word first, treating
 * '...' as quoted, then expands the word as double-quoted text). */
static int parse_squote_in_brace_dq(Parser *p, StrBuf *out) {
        Pos open = here(p);
        long end = find_squote(p, p->pos + 1);
        size_t len = p->len;
        int r = 0;

        if (end < 0)
                return unterminated_squote(p, open);
        emit(out, '\'');
        advance(p);
        p->len = (size_t) end; /* nothing inside may reach past the closing quote */
        while (r >= 0 && cur(p) >= 0) {
                int c = cur(p);

                if (c == '\\')
                        parse_backslash(p, out, true, true);
                else if (c == '"')
                        r = parse_dquote(p, out);
                else if (c == '$')
                        r = parse_dollar(p, out, DOLLAR_BRACE_DQ);
                else if (c == '`')
                        r = expansion_error(p, here(p), "`", "command substitution");
                else {
                        emit(out, (char) c);
                        advance(p);
                }
        }
        p->len = len;
        if (r < 0)
                return r;
        emit(out, '\'');
        advance(p);
        return 0;
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
                        return parse_squote_in_brace_dq(p, out);
                return parse_squote(p, out);
        case '"':
                return parse_dquote(p, out);
        case '$':
                return parse_dollar(p, out, ctx == WORD_BRACE_DQ ? DOLLAR_BRACE_DQ : DOLLAR_UNQUOTED);
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

static int parse_word(Parser *p, StrBuf *out, WordCtx ctx, Pos open) {
        bool tilde_here = true, colon;

        for (;;) {
                int c = cur(p), r;

                if (ctx == WORD_TOP && (c < 0 || is_blank(c) || c == '\n'))
                        return 0;
                if (c < 0)
                        return envfile_error(p, open, "close it with \"}\"", "unterminated \"${\"");
                if (ctx != WORD_TOP && c == '}') {
                        advance(p);
                        return 0;
                }
                if (ctx == WORD_TOP && is_meta(c))
                        return envfile_metachar_error(p, c);
                r = parse_word_unit(p, out, ctx, c, tilde_here, &colon);
                if (r < 0)
                        return r;
                if (out && out->oom)
                        return -ENOMEM;
                tilde_here = colon;
        }
}

int envfile_parse_word(Parser *p, StrBuf *out, WordCtx ctx, Pos open) {
        assert(p);
        assert(ctx <= WORD_BRACE_DQ);

        return parse_word(p, out, ctx, open);
}
