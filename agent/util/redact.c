/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See redact.h. The forms of each value are worked out once, when the set
 * changes; redact() then looks, at every position of the text, for the
 * longest form of any value of the two sets. Texts are short (one error
 * message, one log line), sets small (a few values, a few forms each).
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/wipe.h"

#define SHORT_VALUE 4 /* shorter: whole words only, plain only */

typedef struct Needle {
        char *s;
        size_t len;
        bool word; /* only where it stands as a whole word */
} Needle;

typedef struct SecretSet {
        char **values; /* sorted, distinct, non-empty */
        size_t n_values;
        Needle *needles; /* longest first */
        size_t n_needles;
} SecretSet;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static SecretSet sets[3]; /* [0]: the configuration in use, [1]: the one before, [2]: pinned */

/* ---- the forms of one value ------------------------------------------------ */

typedef struct Forms {
        char **items;
        size_t n;
        int error;
} Forms;

/* Takes s over; an empty, too short or already known form is dropped. */
static void forms_add(Forms *f, char *s) {
        char **p;

        if (!s) {
                f->error = -ENOMEM;
                return;
        }
        bool dup = false;
        for (size_t i = 0; i < f->n && !dup; i++)
                dup = streq(f->items[i], s);
        if (dup || strlen(s) < SHORT_VALUE || f->error < 0) {
                wipe_free(s);
                return;
        }
        p = realloc(f->items, (f->n + 2) * sizeof *p);
        if (!p) {
                wipe_free(s);
                f->error = -ENOMEM;
                return;
        }
        f->items = p;
        f->items[f->n++] = s;
        f->items[f->n] = NULL;
}

/* The base64 characters of (pad zero bytes + value) that depend on value
 * alone, i.e. what any base64 text holding value at that alignment
 * contains; with standalone set, the whole encoding with its '=' padding.
 * Freed with wipe_free (the form of a secret is a secret). */
static char *b64_form(const unsigned char *v, size_t n, unsigned pad, bool standalone) {
        size_t total = pad + n, first = (pad * 8 + 5) / 6, last = total * 8 / 6;
        unsigned char *shifted;
        char *enc;

        if (standalone)
                return base64_encode(v, n);
        shifted = calloc(1, total);
        if (!shifted)
                return NULL;
        memcpy(shifted + pad, v, n);
        enc = base64_encode(shifted, total);
        explicit_bzero(shifted, total);
        free(shifted);
        if (!enc)
                return NULL;
        memmove(enc, enc + first, last - first);
        explicit_bzero(enc + (last - first), strlen(enc + (last - first)));
        return enc;
}

/* Decodes one UTF-8 sequence at s; returns its length, 0 when invalid. */
static size_t utf8_decode(const unsigned char *s, uint32_t *ret) {
        size_t n = s[0] >= 0xf0 && s[0] < 0xf5 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
        uint32_t c;

        if (n == 0)
                return 0;
        c = s[0] & (0x7f >> n);
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = c << 6 | (s[i] & 0x3f);
        }
        if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c < 0xe000))
                return 0;
        *ret = c;
        return n;
}

enum {
        JSON_HTML = 1u << 0,  /* < > & U+2028 U+2029 as \u escapes, as Go writes them */
        JSON_ASCII = 1u << 1, /* every non-ASCII character as \uXXXX, as Python writes them */
};

/* The text of s inside a JSON string; NULL when s is not UTF-8 and
 * JSON_ASCII is asked (and when out of memory). Written into one buffer of
 * the largest size it can need, so no copy of a secret is left behind by a
 * reallocation. */
static char *json_form(const char *s, unsigned flags) {
        char *out = malloc(strlen(s) * 6 + 1), *o = out;

        if (!out)
                return NULL;
        for (const unsigned char *p = (const unsigned char *) s; *p;) {
                uint32_t c = *p;
                size_t n = 1;
                if (c >= 0x80 && (flags & (JSON_ASCII | JSON_HTML)) && !(n = utf8_decode(p, &c))) {
                        if (flags & JSON_ASCII) {
                                wipe_free((*o = 0, out));
                                return NULL;
                        }
                        n = 1, c = *p;
                }
                if (c == '"' || c == '\\')
                        o += sprintf(o, "\\%c", (char) c);
                else if (c == '\n' || c == '\t' || c == '\r' || c == '\b' || c == '\f')
                        o += sprintf(o, "\\%c", c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : c == '\b' ? 'b' : 'f');
                else if (c < 0x20 || ((flags & JSON_HTML) && (c == '<' || c == '>' || c == '&' || c == 0x2028 ||
                                                              c == 0x2029)) ||
                         ((flags & JSON_ASCII) && c >= 0x80 && c < 0x10000))
                        o += sprintf(o, "\\u%04x", (unsigned) c);
                else if ((flags & JSON_ASCII) && c >= 0x10000)
                        o += sprintf(o, "\\u%04x\\u%04x", (unsigned) (0xd800 + ((c - 0x10000) >> 10)),
                                     (unsigned) (0xdc00 + ((c - 0x10000) & 0x3ff)));
                else {
                        memcpy(o, p, n);
                        o += n;
                }
                p += n;
        }
        *o = 0;
        return out;
}

static int cmp_longest_first(const void *a, const void *b) {
        size_t x = strlen(*(char *const *) a), y = strlen(*(char *const *) b);
        return x < y ? 1 : x > y ? -1 : strcmp(*(char *const *) a, *(char *const *) b);
}

char **redact_forms(const char *value) {
        const unsigned char *v = (const unsigned char *) value;
        size_t n;
        Forms f = { 0 };
        char *once;

        assert(value);

        n = strlen(value);
        if (n == 0)
                return calloc(1, sizeof(char *));
        if (n < SHORT_VALUE) {
                char **one = calloc(2, sizeof *one);
                if (one && !(one[0] = strdup(value))) {
                        free(one);
                        return NULL;
                }
                return one;
        }
        forms_add(&f, strdup(value));
        forms_add(&f, b64_form(v, n, 0, true));
        for (unsigned pad = 0; pad < 3; pad++)
                if (pad == 0 || n >= 6)
                        forms_add(&f, b64_form(v, n, pad, false));
        forms_add(&f, json_form(value, 0));
        forms_add(&f, json_form(value, JSON_HTML));
        if ((once = json_form(value, JSON_ASCII)))
                forms_add(&f, once);
        if ((once = json_form(value, JSON_ASCII | JSON_HTML)))
                forms_add(&f, once);
        once = json_form(value, 0);
        forms_add(&f, once ? json_form(once, 0) : NULL);
        wipe_free(once);
        if (f.error < 0) {
                redact_forms_free(f.items);
                return NULL;
        }
        qsort_safe(f.items, f.n, sizeof *f.items, cmp_longest_first);
        return f.items ? f.items : calloc(1, sizeof(char *));
}

void redact_forms_free(char **forms) {
        for (char **p = forms; p && *p; p++)
                wipe_free(*p);
        free(forms);
}

/* ---- the sets ----------------------------------------------------------------- */

static void set_clear(SecretSet *s) {
        for (size_t i = 0; i < s->n_values; i++)
                wipe_free(s->values[i]);
        for (size_t i = 0; i < s->n_needles; i++)
                wipe_free(s->needles[i].s);
        free(s->values);
        free(s->needles);
        *s = (SecretSet) { 0 };
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int cmp_needle(const void *a, const void *b) {
        const Needle *x = a, *y = b;
        return x->len < y->len ? 1 : x->len > y->len ? -1 : 0;
}

static int set_add_needles(SecretSet *s, const char *value) {
        char **forms = redact_forms(value);
        size_t n = 0;
        Needle *p;

        if (!forms)
                return -ENOMEM;
        while (forms[n])
                n++;
        p = realloc(s->needles, (s->n_needles + n + 1) * sizeof *p);
        if (!p) {
                redact_forms_free(forms);
                return -ENOMEM;
        }
        s->needles = p;
        for (size_t i = 0; i < n; i++)
                s->needles[s->n_needles++] = (Needle) { forms[i], strlen(forms[i]), strlen(value) < SHORT_VALUE };
        free(forms); /* the strings now belong to the needles */
        return 0;
}

static int set_build(const char *const *values, size_t n, SecretSet *ret) {
        SecretSet s = { .values = calloc(n + 1, sizeof(char *)) };

        if (!s.values)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (!values[i] || !*values[i])
                        continue;
                if (!(s.values[s.n_values] = strdup(values[i]))) {
                        set_clear(&s);
                        return -ENOMEM;
                }
                s.n_values++;
        }
        qsort_safe(s.values, s.n_values, sizeof *s.values, cmp_str);
        size_t k = 0;
        for (size_t i = 0; i < s.n_values; i++) /* distinct */
                if (k > 0 && streq(s.values[k - 1], s.values[i]))
                        wipe_free(s.values[i]);
                else
                        s.values[k++] = s.values[i];
        s.n_values = k;
        for (size_t i = 0; i < s.n_values; i++)
                if (set_add_needles(&s, s.values[i]) < 0) {
                        set_clear(&s);
                        return -ENOMEM;
                }
        qsort_safe(s.needles, s.n_needles, sizeof *s.needles, cmp_needle);
        *ret = s;
        return 0;
}

static bool set_equal(const SecretSet *a, const SecretSet *b) {
        if (a->n_values != b->n_values)
                return false;
        for (size_t i = 0; i < a->n_values; i++)
                if (!streq(a->values[i], b->values[i]))
                        return false;
        return true;
}

int redact_set_secrets(const char *const *values, size_t n) {
        SecretSet s;
        int r;

        assert(values || n == 0);

        r = set_build(values, n, &s);
        if (r < 0)
                return r;
        pthread_mutex_lock(&lock);
        if (set_equal(&s, &sets[0]))
                set_clear(&s);
        else {
                set_clear(&sets[1]);
                sets[1] = sets[0];
                sets[0] = s;
        }
        pthread_mutex_unlock(&lock);
        return 0;
}

int redact_pin_secret(const char *value) {
        _cleanup_free_ const char **values = NULL;
        SecretSet s;
        int r;

        if (strempty(value))
                return 0;
        pthread_mutex_lock(&lock);
        values = calloc(sets[2].n_values + 1, sizeof *values);
        if (!values) {
                pthread_mutex_unlock(&lock);
                return -ENOMEM;
        }
        for (size_t i = 0; i < sets[2].n_values; i++)
                values[i] = sets[2].values[i];
        values[sets[2].n_values] = value;
        r = set_build(values, sets[2].n_values + 1, &s);
        if (r >= 0) {
                set_clear(&sets[2]);
                sets[2] = s;
        }
        pthread_mutex_unlock(&lock);
        return r;
}

void redact_forget_secrets(void) {
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < ELEMENTSOF(sets); i++)
                set_clear(&sets[i]);
        pthread_mutex_unlock(&lock);
}

size_t redact_n_secrets(void) {
        size_t n = 0;

        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < ELEMENTSOF(sets); i++)
                n += sets[i].n_values;
        pthread_mutex_unlock(&lock);
        return n;
}

/* ---- redacting ----------------------------------------------------------------- */

static bool is_word_char(char c) {
        return isalnum((unsigned char) c) || c == '_' || c == '-';
}

/* The length of the longest needle that matches at s + i, or 0. */
static size_t match_at(const char *s, size_t i) {
        size_t best = 0;

        for (size_t k = 0; k < ELEMENTSOF(sets); k++)
                for (size_t j = 0; j < sets[k].n_needles; j++) {
                        const Needle *nd = &sets[k].needles[j];
                        if (nd->len <= best || s[i] != nd->s[0] || strncmp(s + i, nd->s, nd->len) != 0)
                                continue;
                        if (nd->word && ((i > 0 && is_word_char(s[i - 1])) || is_word_char(s[i + nd->len])))
                                continue;
                        best = nd->len;
                }
        return best;
}

/* Locked. *ret_n: the number of replacements. */
static char *redact_locked(const char *s, size_t *ret_n) {
        StrBuf b = { 0 };
        size_t n = 0;

        for (size_t i = 0; s[i];) {
                size_t m = match_at(s, i);
                if (m > 0) {
                        strbuf_puts(&b, REDACTED);
                        i += m, n++;
                } else
                        strbuf_putc(&b, s[i++]);
        }
        if (!b.s && !b.oom)
                strbuf_puts(&b, "");
        *ret_n = n;
        return strbuf_steal(&b);
}

char *redact(const char *s) {
        size_t n;
        char *r;

        assert(s);

        pthread_mutex_lock(&lock);
        r = redact_locked(s, &n);
        pthread_mutex_unlock(&lock);
        return r;
}

size_t redact_buf(char *buf, size_t size) {
        size_t n = 0;
        char *r;

        assert(buf);

        if (size == 0)
                return 0;
        pthread_mutex_lock(&lock);
        r = redact_locked(buf, &n);
        pthread_mutex_unlock(&lock);
        explicit_bzero(buf, strnlen(buf, size));
        snprintf(buf, size, "%s", r ? r : REDACTED " (out of memory)");
        free(r);
        return n;
}

