/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <cjson/cJSON.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "util/wipe.h"

void *wipe_malloc(size_t n) {
        return malloc(n);
}

void wipe_free(void *p) {
        if (!p)
                return;
        explicit_bzero(p, malloc_usable_size(p));
        free(p);
}

/* Never realloc(3): it may move the block and leave the old one as it was. */
void *wipe_realloc(void *p, size_t n) {
        size_t old;
        void *q;

        if (!p)
                return malloc(n);
        if (n == 0) {
                wipe_free(p);
                return NULL;
        }
        old = malloc_usable_size(p);
        if (n <= old)
                return p;
        q = malloc(n);
        if (!q)
                return NULL;
        memcpy(q, p, old);
        wipe_free(p);
        return q;
}

void *wipe_calloc(size_t n, size_t size) {
        return calloc(n, size);
}

char *wipe_strdup(const char *s) {
        assert(s);

        return strdup(s);
}

void wipe_json_allocations(void) {
        cJSON_Hooks hooks = { .malloc_fn = wipe_malloc, .free_fn = wipe_free };

        cJSON_InitHooks(&hooks);
}
