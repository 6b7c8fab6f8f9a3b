/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/escape.h"

/* Length of the valid UTF-8 sequence at s that is not a C1 control, or 0. */
static size_t utf8_printable_len(const unsigned char *s) {
        uint32_t cp;
        size_t n;

        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2, cp = s[0] & 0x1fu;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                n = 3, cp = s[0] & 0x0fu;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                n = 4, cp = s[0] & 0x07u;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3fu);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
            (cp >= 0x80 && cp <= 0x9f))
                return 0;
        return n;
}

/* Calls put(buf, len, userdata) for each piece of the escaped form of s. */
static void escape_each(const char *s, void (*put)(const char *, size_t, void *), void *userdata) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = (const unsigned char *) s;

        while (*p) {
                size_t n = 0;
                char e[4];

                while (p[n] >= 0x20 && p[n] < 0x7f && p[n] != '\\')
                        n++;
                if (n == 0 && p[0] >= 0x80)
                        n = utf8_printable_len(p);
                if (n > 0) {
                        put((const char *) p, n, userdata);
                        p += n;
                        continue;
                }
                e[0] = '\\';
                e[1] = *p == '\\' ? '\\' : *p == '\n' ? 'n' : *p == '\t' ? 't' : *p == '\r' ? 'r' : 0;
                if (e[1])
                        put(e, 2, userdata);
                else {
                        e[1] = 'x';
                        e[2] = hex[*p >> 4];
                        e[3] = hex[*p & 15];
                        put(e, 4, userdata);
                }
                p++;
        }
}

static void put_strbuf(const char *s, size_t n, void *userdata) {
        strbuf_putn(userdata, s, n);
}

static void put_file(const char *s, size_t n, void *userdata) {
        fwrite(s, 1, n, userdata);
}

void strbuf_put_escaped(StrBuf *b, const char *s) {
        assert(b);
        assert(s);

        escape_each(s, put_strbuf, b);
}

char *cescape(const char *s) {
        StrBuf b = { 0 };

        assert(s);

        escape_each(s, put_strbuf, &b);
        return strbuf_steal(&b);
}

void fputs_escaped(const char *s, FILE *f) {
        assert(s);
        assert(f);

        escape_each(s, put_file, f);
}
