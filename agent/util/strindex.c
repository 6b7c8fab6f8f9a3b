/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Open addressing with linear probing over a power-of-two table kept at most
 * half full. The hash is FNV-1a with a per-process seed (from the kernel's
 * AT_RANDOM bytes) and a final mix, so a file crafted to make its keys
 * collide cannot turn lookups linear: the seed is not known in advance.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "util/strindex.h"

typedef struct Slot {
        const char *key; /* NULL: empty */
        uint64_t hash;
        size_t value;
} Slot;

struct StrIndex {
        Slot *slots;
        size_t mask; /* capacity - 1 */
        size_t n;
        uint64_t seed;
};

static uint64_t process_seed(void) {
        const unsigned char *r = (const unsigned char *) getauxval(AT_RANDOM);
        uint64_t s = 0x9e3779b97f4a7c15ULL;

        /* The first bytes seed the stack protector; the last 8 are free. */
        if (r)
                memcpy(&s, r + 8, sizeof s);
        return s;
}

static uint64_t hash_key(uint64_t seed, const char *key) {
        uint64_t h = 0xcbf29ce484222325ULL ^ seed;

        for (const unsigned char *p = (const unsigned char *) key; *p; p++) {
                h ^= *p;
                h *= 0x100000001b3ULL;
        }
        /* MurmurHash3's finalizer: every bit of h reaches the low bits. */
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return h;
}

int strindex_new(StrIndex **ret) {
        StrIndex *x = calloc(1, sizeof *x);

        assert(ret);

        if (!x)
                return -ENOMEM;
        x->slots = calloc(16, sizeof *x->slots);
        if (!x->slots) {
                free(x);
                return -ENOMEM;
        }
        x->mask = 15;
        x->seed = process_seed();
        *ret = x;
        return 0;
}

StrIndex *strindex_free(StrIndex *x) {
        if (!x)
                return NULL;
        free(x->slots);
        free(x);
        return NULL;
}

static Slot *find_slot(Slot *slots, size_t mask, const char *key, uint64_t hash) {
        for (size_t i = hash & mask;; i = (i + 1) & mask)
                if (!slots[i].key || (slots[i].hash == hash && strcmp(slots[i].key, key) == 0))
                        return &slots[i];
}

static int resize(StrIndex *x, size_t cap) {
        Slot *slots = calloc(cap, sizeof *slots);

        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i <= x->mask; i++)
                if (x->slots[i].key)
                        *find_slot(slots, cap - 1, x->slots[i].key, x->slots[i].hash) = x->slots[i];
        free(x->slots);
        x->slots = slots;
        x->mask = cap - 1;
        return 0;
}

int strindex_put(StrIndex *x, const char *key, size_t value, size_t *ret_old) {
        uint64_t h;
        Slot *s;

        assert(x);
        assert(key);
        assert(value != STRINDEX_NONE);

        h = hash_key(x->seed, key);
        s = find_slot(x->slots, x->mask, key, h);
        if (!s->key) {
                if ((x->n + 1) * 2 > x->mask + 1) {
                        int r = resize(x, (x->mask + 1) * 2);
                        if (r < 0)
                                return r;
                        s = find_slot(x->slots, x->mask, key, h);
                }
                *s = (Slot) { .key = key, .hash = h, .value = STRINDEX_NONE };
                x->n++;
        }
        if (ret_old)
                *ret_old = s->value;
        s->value = value;
        return 0;
}

int strindex_reserve(StrIndex *x, size_t n) {
        size_t cap;

        if (!x)
                return 0;
        cap = x->mask + 1;
        if (n > SIZE_MAX / 4)
                return -ENOMEM;
        while (cap < n * 2)
                cap *= 2;
        return cap > x->mask + 1 ? resize(x, cap) : 0;
}

size_t strindex_get(const StrIndex *x, const char *key) {
        const Slot *s;

        assert(key);

        if (!x)
                return STRINDEX_NONE;
        s = find_slot(x->slots, x->mask, key, hash_key(x->seed, key));
        return s->key ? s->value : STRINDEX_NONE;
}

size_t strindex_size(const StrIndex *x) {
        return x ? x->n : 0;
}
