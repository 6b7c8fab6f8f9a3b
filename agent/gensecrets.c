/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gensecrets.h"
#include "util/strbuf.h"

const char *const gensecrets_keys[] = {
        "SANDBOX_JWT_SECRET", "SANDBOX_SERVICE_KEY", "BROWSER_JWT_SECRET", "TURN_AUTH_SECRET",
        "JWT_SECRET",         "CREDENTIAL_ENCRYPTION_KEY", "PLATFORM_SERVICE_KEY", "PG_PASSWORD",
        NULL,
};

bool gensecrets_is_placeholder(const char *v) {
        return !*v || strncasecmp(v, "change-me", 9) == 0 || strncasecmp(v, "changeme", 8) == 0 ||
               strncasecmp(v, "change_me", 9) == 0 || strncmp(v, "demo-only-", 10) == 0;
}

int gensecrets_random_hex(char ret[65], void *userdata) {
        static const char hex[] = "0123456789abcdef";
        unsigned char b[32];

        if (RAND_bytes(b, sizeof b) != 1)
                return -EIO;
        for (size_t i = 0; i < sizeof b; i++) {
                ret[2 * i] = hex[b[i] >> 4];
                ret[2 * i + 1] = hex[b[i] & 15];
        }
        ret[64] = 0;
        explicit_bzero(b, sizeof b);
        return 0;
}

/* Offset of (line, col) in text, or -1. Columns count bytes from 1. */
static long offset_of(const char *text, size_t len, unsigned line, unsigned col) {
        size_t off = 0;

        for (unsigned l = 1; l < line; l++) {
                const char *nl = memchr(text + off, '\n', len - off);
                if (!nl)
                        return -1;
                off = (size_t) (nl - text) + 1;
        }
        off += col - 1;
        return off <= len ? (long) off : -1;
}

/* The end of the value token starting at off: a quoted string, or an
 * unquoted word. -1 when it spans lines (left alone). */
static long value_end(const char *text, size_t len, size_t off) {
        size_t i = off;

        while (i < len && text[i] != '\n' && text[i] != ' ' && text[i] != '\t') {
                if (text[i] == '\'' || text[i] == '"') {
                        char q = text[i++];
                        while (i < len && text[i] != q && text[i] != '\n')
                                i += (q == '"' && text[i] == '\\' && i + 1 < len) ? 2 : 1;
                        if (i >= len || text[i] != q)
                                return -1;
                }
                i++;
        }
        return (long) i;
}

static int strv_push(char ***v, size_t *n, const char *s) {
        char **p = realloc(*v, (*n + 2) * sizeof *p);

        if (!p)
                return -ENOMEM;
        *v = p;
        if (!(p[*n] = strdup(s)))
                return -ENOMEM;
        p[++*n] = NULL;
        return 0;
}

typedef struct Edit {
        size_t start, end;
        char quote; /* 0, '\'' or '"' */
        const char *key;
} Edit;

static int cmp_edit(const void *a, const void *b) {
        const Edit *x = a, *y = b;
        return x->start < y->start ? -1 : x->start > y->start;
}

int gensecrets_fill(const char *text, size_t len, const EnvFile *env, GenSecretsRandom rnd, void *userdata,
                    char **ret_text, char ***ret_filled) {
        Edit edits[16];
        size_t n = 0, nf = 0, pos = 0;
        char **filled = calloc(1, sizeof *filled);
        StrBuf b = { 0 };
        int r = 0;

        if (!filled)
                return -ENOMEM;
        for (size_t k = 0; gensecrets_keys[k] && n < ELEMENTSOF(edits); k++) {
                const EnvEntry *e = envfile_get(env, gensecrets_keys[k]);
                long s, end;
                if (!e || !gensecrets_is_placeholder(e->value))
                        continue;
                s = offset_of(text, len, e->line, e->value_col);
                end = s >= 0 ? value_end(text, len, (size_t) s) : -1;
                if (end < 0)
                        continue;
                edits[n++] = (Edit) { (size_t) s, (size_t) end, text[s] == '\'' || text[s] == '"' ? text[s] : 0,
                                      gensecrets_keys[k] };
        }
        qsort_safe(edits, n, sizeof *edits, cmp_edit);
        for (size_t i = 0; i < n && r >= 0; i++) {
                char hex[65];
                r = rnd(hex, userdata);
                if (r < 0)
                        break;
                strbuf_putn(&b, text + pos, edits[i].start - pos);
                if (edits[i].quote)
                        strbuf_putc(&b, edits[i].quote);
                strbuf_puts(&b, hex);
                if (edits[i].quote)
                        strbuf_putc(&b, edits[i].quote);
                explicit_bzero(hex, sizeof hex);
                pos = edits[i].end;
                r = strv_push(&filled, &nf, edits[i].key);
        }
        strbuf_putn(&b, text + pos, len - pos);
        char *out = strbuf_steal(&b);
        if (r < 0 || !out) {
                free(out);
                for (size_t i = 0; i < nf; i++)
                        free(filled[i]);
                free(filled);
                return r < 0 ? r : -ENOMEM;
        }
        *ret_text = out;
        *ret_filled = filled;
        return 0;
}
