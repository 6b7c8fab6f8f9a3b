/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"

char *base64_encode(const void *p, size_t n) {
        char *out;

        assert(p || n == 0);

        if (n > (size_t) INT_MAX / 4 * 3)
                return NULL;
        out = malloc(4 * ((n + 2) / 3) + 1);
        if (!out)
                return NULL;
        EVP_EncodeBlock((unsigned char *) out, p, (int) n);
        return out;
}

/* Zeroes and frees the n bytes at *p. */
static void wipe_buffer(unsigned char **p, size_t n) {
        if (*p) {
                explicit_bzero(*p, n);
                free(*p);
        }
}

int base64_decode(const char *in, unsigned char **ret, size_t *ret_size) {
        size_t n, len = 0, pad = 0;
        unsigned char *text, *out;
        int r;

        assert(in);
        assert(ret);
        assert(ret_size);

        n = strlen(in);
        if (n > (size_t) INT_MAX)
                return -EINVAL;
        text = malloc(n + 1);
        if (!text)
                return -ENOMEM;
        for (const char *s = in; *s; s++)
                if (!strchr(" \t\r\n", *s))
                        text[len++] = (unsigned char) *s;
        while (pad < len && text[len - 1 - pad] == '=')
                pad++;
        if (len == 0 || len % 4 || pad > 2 || memchr(text, '=', len - pad)) {
                wipe_buffer(&text, n + 1);
                return -EINVAL;
        }
        out = malloc(len / 4 * 3 + 1);
        if (!out) {
                wipe_buffer(&text, n + 1);
                return -ENOMEM;
        }
        r = EVP_DecodeBlock(out, text, (int) len); /* -1 on a character outside the alphabet */
        wipe_buffer(&text, n + 1);
        if (r < 0) {
                wipe_buffer(&out, len / 4 * 3 + 1);
                return -EINVAL;
        }
        out[r - pad] = 0;
        *ret_size = (size_t) r - pad;
        *ret = out;
        return 0;
}
