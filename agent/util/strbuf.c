/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

static bool strbuf_reserve(StrBuf *b, size_t extra) {
        size_t need;
        char *p;

        if (b->oom)
                return false;
        need = b->len + extra + 1;
        if (need <= b->allocated)
                return true;
        size_t n = b->allocated ? b->allocated : 64;
        while (n < need)
                n *= 2;
        if (b->wipe) {
                /* No copy of what it held may stay behind in freed memory. */
                p = malloc(n);
                if (p && b->s) {
                        memcpy(p, b->s, b->len + 1);
                        explicit_bzero(b->s, b->allocated);
                        free(b->s);
                }
        } else
                p = realloc(b->s, n);
        if (!p) {
                b->oom = true;
                return false;
        }
        b->s = p;
        b->allocated = n;
        return true;
}

void strbuf_putn(StrBuf *b, const char *s, size_t n) {
        assert(b);
        assert(s || n == 0);

        if (!strbuf_reserve(b, n))
                return;
        memcpy(b->s + b->len, s, n);
        b->len += n;
        b->s[b->len] = 0;
}

void strbuf_putc(StrBuf *b, char c) {
        assert(b);

        strbuf_putn(b, &c, 1);
}

void strbuf_puts(StrBuf *b, const char *s) {
        assert(b);
        assert(s);

        strbuf_putn(b, s, strlen(s));
}

void strbuf_printf(StrBuf *b, const char *format, ...) {
        va_list ap;
        int n;

        assert(b);
        assert(format);

        va_start(ap, format);
        n = vsnprintf(NULL, 0, format, ap);
        va_end(ap);
        if (n < 0 || !strbuf_reserve(b, (size_t) n)) {
                b->oom = true;
                return;
        }
        va_start(ap, format);
        vsnprintf(b->s + b->len, (size_t) n + 1, format, ap);
        va_end(ap);
        b->len += (size_t) n;
}

char *strbuf_steal(StrBuf *b) {
        char *s;

        assert(b);

        if (b->oom) {
                strbuf_free(b);
                return NULL;
        }
        s = b->s ? b->s : strdup("");
        *b = (StrBuf) { 0 };
        return s;
}

void strbuf_free(StrBuf *b) {
        assert(b);

        if (b->wipe && b->s)
                explicit_bzero(b->s, b->allocated);
        free(b->s);
        *b = (StrBuf) { 0 };
}
