/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util/diag: a diagnostic that could not be recorded (out of memory) still
 * counts as an error, so a lost error can never let an invalid file pass;
 * printing escapes control characters from the file.
 *
 * The allocation failure is injected: this binary is linked with
 * -Wl,--wrap=realloc, so util/diag.c's realloc() is __wrap_realloc() below,
 * a hand-written fault (no real allocator fails on demand).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests.h"
#include "util/diag.h"

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);

static bool fail_realloc;

void *__wrap_realloc(void *p, size_t n) {
        if (fail_realloc)
                return NULL;
        return __real_realloc(p, n);
}

static char *print_to_string(const DiagList *l) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ASSERT_TRUE(f);
        diag_list_print(l, f);
        fclose(f);
        return buf;
}

TEST(lost_error_is_an_error) {
        _cleanup_(diag_list_clear) DiagList l = { 0 };
        _cleanup_free_ char *out = NULL, *s = NULL;

        fail_realloc = true;
        ASSERT_EQ(diag_add(&l, DIAG_ERROR, "v.env", 3, 1, NULL, "bad"), -ENOMEM);
        fail_realloc = false;
        ASSERT_EQ(l.n, 0);
        ASSERT_TRUE(l.oom);
        ASSERT_TRUE(diag_has_errors(&l));
        ASSERT_EQ(diag_count(&l, DIAG_ERROR), 1);
        ASSERT_TRUE(diag_first_error(&l));
        ASSERT_TRUE(strstr(diag_first_error(&l)->message, "out of memory"));
        s = diag_format_short(diag_first_error(&l));
        ASSERT_TRUE(s && strstr(s, "out of memory"));
        out = print_to_string(&l);
        ASSERT_TRUE(strstr(out, "error: out of memory"));
}

TEST(lost_warning_is_an_error_too) {
        _cleanup_(diag_list_clear) DiagList l = { 0 };

        ASSERT_OK(diag_add(&l, DIAG_WARNING, "v.env", 1, 1, NULL, "w"));
        ASSERT_TRUE(!diag_has_errors(&l));
        /* fill the first allocation, so the next add must grow it */
        while (l.n < l.allocated)
                ASSERT_OK(diag_add(&l, DIAG_WARNING, "v.env", 1, 1, NULL, "w"));
        fail_realloc = true;
        ASSERT_EQ(diag_add(&l, DIAG_WARNING, "v.env", 2, 1, NULL, "w"), -ENOMEM);
        fail_realloc = false;
        ASSERT_TRUE(diag_has_errors(&l));
        ASSERT_EQ(diag_count(&l, DIAG_WARNING), l.n);
}

TEST(no_error) {
        _cleanup_(diag_list_clear) DiagList l = { 0 };

        ASSERT_TRUE(!diag_has_errors(&l));
        ASSERT_NULL(diag_first_error(&l));
        ASSERT_OK(diag_add(&l, DIAG_WARNING, NULL, 0, 0, NULL, "w"));
        ASSERT_NULL(diag_first_error(&l));
}

TEST(printing_escapes) {
        _cleanup_(diag_list_clear) DiagList l = { 0 };
        _cleanup_free_ char *out = NULL, *s = NULL;

        ASSERT_OK(diag_add(&l, DIAG_ERROR, "dir\n/v\x1b.env", 2, 5, "try \"a\tb\"", "value \"x\x1b[2Jy\\z\" is bad"));
        out = print_to_string(&l);
        ASSERT_STREQ(out, "dir\\n/v\\x1b.env:2:5: error: value \"x\\x1b[2Jy\\\\z\" is bad\n"
                          "    hint: try \"a\\tb\"\n");
        s = diag_format_short(&l.items[0]);
        ASSERT_STREQ(s, "dir\\n/v\\x1b.env:2:5: value \"x\\x1b[2Jy\\\\z\" is bad");
}

TEST_MAIN(T(lost_error_is_an_error), T(lost_warning_is_an_error_too), T(no_error), T(printing_escapes))
