/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util/strindex: what is put is found, a second put replaces and reports the
 * old position, absent keys are STRINDEX_NONE, and growth past many
 * rehashes loses nothing.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests.h"
#include "util/strindex.h"

TEST(put_get_replace) {
        _cleanup_(strindex_freep) StrIndex *x = NULL;
        size_t old = 0;

        ASSERT_OK(strindex_new(&x));
        ASSERT_EQ(strindex_get(x, "A"), STRINDEX_NONE);
        ASSERT_OK(strindex_put(x, "A", 3, &old));
        ASSERT_EQ(old, STRINDEX_NONE);
        ASSERT_OK(strindex_put(x, "B", 4, NULL));
        ASSERT_EQ(strindex_get(x, "A"), 3);
        ASSERT_EQ(strindex_get(x, "B"), 4);
        ASSERT_OK(strindex_put(x, "A", 7, &old));
        ASSERT_EQ(old, 3);
        ASSERT_EQ(strindex_get(x, "A"), 7);
        ASSERT_EQ(strindex_size(x), 2);
        ASSERT_EQ(strindex_get(x, ""), STRINDEX_NONE);
        ASSERT_EQ(strindex_get(NULL, "A"), STRINDEX_NONE);
}

TEST(many_keys) {
        _cleanup_(strindex_freep) StrIndex *x = NULL;
        enum { N = 100000 };
        char (*keys)[16] = calloc(N, sizeof *keys);

        ASSERT_TRUE(keys);
        ASSERT_OK(strindex_new(&x));
        for (size_t i = 0; i < N; i++) {
                snprintf(keys[i], sizeof keys[i], "K%zu", i);
                ASSERT_OK(strindex_put(x, keys[i], i, NULL));
        }
        ASSERT_EQ(strindex_size(x), N);
        for (size_t i = 0; i < N; i++)
                if (strindex_get(x, keys[i]) != i)
                        TEST_FAIL("lost %s", keys[i]);
        ASSERT_EQ(strindex_get(x, "K100000"), STRINDEX_NONE);
        free(keys);
}

TEST_MAIN(T(put_get_replace), T(many_keys))
