/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/strv.h"
#include "util/wipe.h"

int strv_push(Strv *l, char *s) {
        char **p;

        assert(l);

        if (!s)
                return -ENOMEM;
        p = realloc(l->items, (l->n + 1) * sizeof *p);
        if (!p) {
                wipe_free(s);
                return -ENOMEM;
        }
        l->items = p;
        l->items[l->n++] = s;
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void strv_sort(Strv *l) {
        assert(l);

        qsort_safe(l->items, l->n, sizeof *l->items, cmp_str);
}

void strv_clear(Strv *l) {
        assert(l);

        for (size_t i = 0; i < l->n; i++)
                wipe_free(l->items[i]);
        free(l->items);
        *l = (Strv) { 0 };
}
