/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gensecrets.h"
#include "util/hex.h"
#include "util/strbuf.h"

const char *const gensecrets_keys[GENSECRETS_N_KEYS + 1] = {
        "JWT_SECRET",         "CREDENTIAL_ENCRYPTION_KEY", "PLATFORM_SERVICE_KEY", "BROWSER_JWT_SECRET",
        "SANDBOX_JWT_SECRET", "SANDBOX_SERVICE_KEY",       "TURN_AUTH_SECRET",     "PG_PASSWORD",
        NULL,
};

bool gensecrets_is_placeholder(const char *v) {
        assert(v);

        return !*v || strncasecmp(v, "change-me", 9) == 0 || strncasecmp(v, "changeme", 8) == 0 ||
               strncasecmp(v, "change_me", 9) == 0 || strncmp(v, "demo-only-", 10) == 0;
}

int gensecrets_random_hex(char ret[65], void *userdata) {
        unsigned char b[32];

        assert(ret);

        if (RAND_bytes(b, sizeof b) != 1)
                return -EIO;
        hex_encode(b, sizeof b, ret);
        explicit_bzero(b, sizeof b);
        return 0;
}

static void push(const char **list, const char *key) {
        while (*list)
                list++;
        *list = key;
}

/* A value to replace: its entry, and its key as gensecrets_keys spells it. */
typedef struct Edit {
        const EnvEntry *entry;
        const char *key;
} Edit;

static int cmp_edit(const void *a, const void *b) {
        const Edit *x = a, *y = b;

        return x->entry->value_start < y->entry->value_start ? -1 : x->entry->value_start > y->entry->value_start;
}

/* One random value, quoted as the value it replaces was (or bare). */
static int put_secret(StrBuf *b, char quote, GenSecretsRandom rnd, void *userdata) {
        char hex[65];
        int r = rnd(hex, userdata);

        if (r < 0)
                return r;
        if (quote)
                strbuf_putc(b, quote);
        strbuf_puts(b, hex);
        if (quote)
                strbuf_putc(b, quote);
        explicit_bzero(hex, sizeof hex);
        return 0;
}

/* Sorts the keys into the three lists; edits gets the values to replace,
 * in file order. Returns how many. */
static size_t plan(const char *text, size_t len, const EnvFile *env, GenSecretsReport *rep, Edit *edits) {
        size_t n = 0;

        for (size_t k = 0; gensecrets_keys[k]; k++) {
                const EnvEntry *e = envfile_get(env, gensecrets_keys[k]);

                if (!e)
                        push(rep->appended, gensecrets_keys[k]);
                else if (!gensecrets_is_placeholder(e->value))
                        continue;
                else if (e->append || e->value_end > len || e->value_start > e->value_end ||
                         memchr(text + e->value_start, '$', e->value_end - e->value_start))
                        push(rep->skipped, gensecrets_keys[k]);
                else
                        edits[n++] = (Edit) { e, gensecrets_keys[k] };
        }
        qsort_safe(edits, n, sizeof *edits, cmp_edit);
        for (size_t i = 0; i < n; i++)
                push(rep->filled, edits[i].key);
        return n;
}

int gensecrets_fill(const char *text, size_t len, const EnvFile *env, GenSecretsRandom rnd, void *userdata,
                    char **ret_text, GenSecretsReport *ret_report) {
        GenSecretsReport rep = { 0 };
        Edit edits[GENSECRETS_N_KEYS];
        size_t n, pos = 0;
        StrBuf b = { 0 };
        int r = 0;

        assert(text || len == 0);
        assert(env);
        assert(rnd);
        assert(ret_text);
        assert(ret_report);

        n = plan(text, len, env, &rep, edits);
        for (size_t i = 0; i < n && r >= 0; i++) {
                char q = text[edits[i].entry->value_start];
                strbuf_putn(&b, text + pos, edits[i].entry->value_start - pos);
                r = put_secret(&b, q == '\'' || q == '"' ? q : 0, rnd, userdata);
                pos = edits[i].entry->value_end;
        }
        strbuf_putn(&b, text + pos, len - pos);
        if (rep.appended[0]) {
                if (len > 0 && text[len - 1] != '\n')
                        strbuf_putc(&b, '\n');
                strbuf_puts(&b, "# machine-internal secrets, added by `nap-agent gen-secrets`\n");
        }
        for (size_t i = 0; r >= 0 && rep.appended[i]; i++) {
                strbuf_printf(&b, "%s=", rep.appended[i]);
                r = put_secret(&b, 0, rnd, userdata);
                strbuf_putc(&b, '\n');
        }
        if (r >= 0 && b.oom)
                r = -ENOMEM;
        if (r < 0) {
                if (b.s)
                        explicit_bzero(b.s, b.len);
                strbuf_free(&b);
                return r;
        }
        *ret_text = strbuf_steal(&b);
        if (!*ret_text)
                return -ENOMEM;
        *ret_report = rep;
        return 0;
}
