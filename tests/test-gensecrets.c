/* SPDX-License-Identifier: Apache-2.0 */
#include "gensecrets.h"
#include "tests.h"

static int fake_random(char ret[65], void *userdata) {
        int *n = userdata;
        snprintf(ret, 65, "%064d", ++*n);
        return 0;
}

static char *fill(const char *text, char ***ret_filled) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(envfile_freep) EnvFile *env = NULL;
        char *out = NULL;
        int n = 0;

        ASSERT_OK(envfile_parse("values.env", text, strlen(text), &env, &d));
        ASSERT_OK(gensecrets_fill(text, strlen(text), env, fake_random, &n, &out, ret_filled));
        return out;
}

static void free_strv(char **v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

TEST(untouched_when_all_set) {
        const char *text = "# c\nSANDBOX_JWT_SECRET=abc0123456789abc0123456789abc0123\n\nOTHER=1\n";
        char **filled = NULL;
        _cleanup_free_ char *out = fill(text, &filled);

        ASSERT_STREQ(out, text);
        ASSERT_NULL(filled[0]);
        free_strv(filled);
}

TEST(fills_exactly_the_empty_ones) {
        const char *text = "# header\n"
                           "export SANDBOX_JWT_SECRET=   # keep this comment\n"
                           "SANDBOX_SERVICE_KEY='change-me-please'\n"
                           "BROWSER_JWT_SECRET=already-set-0123456789abcdef0123456789\n"
                           "TURN_AUTH_SECRET=\"\"\n"
                           "\n"
                           "UNRELATED_SECRET=\n";
        const char *expect = "# header\n"
                             "export SANDBOX_JWT_SECRET=0000000000000000000000000000000000000000000000000000000000000001   # keep this comment\n"
                             "SANDBOX_SERVICE_KEY='0000000000000000000000000000000000000000000000000000000000000002'\n"
                             "BROWSER_JWT_SECRET=already-set-0123456789abcdef0123456789\n"
                             "TURN_AUTH_SECRET=\"0000000000000000000000000000000000000000000000000000000000000003\"\n"
                             "\n"
                             "UNRELATED_SECRET=\n";
        char **filled = NULL;
        _cleanup_free_ char *out = fill(text, &filled);

        ASSERT_STREQ(out, expect);
        ASSERT_STREQ(filled[0], "SANDBOX_JWT_SECRET");
        ASSERT_STREQ(filled[1], "SANDBOX_SERVICE_KEY");
        ASSERT_STREQ(filled[2], "TURN_AUTH_SECRET");
        ASSERT_NULL(filled[3]);
        free_strv(filled);
}

TEST(last_assignment_counts) {
        const char *text = "PG_PASSWORD=\nPG_PASSWORD=set-later\n";
        char **filled = NULL;
        _cleanup_free_ char *out = fill(text, &filled);

        ASSERT_STREQ(out, text);
        ASSERT_NULL(filled[0]);
        free_strv(filled);
}

TEST(placeholders) {
        ASSERT_TRUE(gensecrets_is_placeholder(""));
        ASSERT_TRUE(gensecrets_is_placeholder("change-me"));
        ASSERT_TRUE(gensecrets_is_placeholder("CHANGEME-now"));
        ASSERT_TRUE(gensecrets_is_placeholder("demo-only-abc"));
        ASSERT_TRUE(!gensecrets_is_placeholder("x"));
        ASSERT_TRUE(!gensecrets_is_placeholder("do-not-change-me"));
}

TEST(random_hex) {
        char a[65], b[65];

        ASSERT_OK(gensecrets_random_hex(a, NULL));
        ASSERT_OK(gensecrets_random_hex(b, NULL));
        ASSERT_EQ(strlen(a), 64);
        ASSERT_EQ(strspn(a, "0123456789abcdef"), 64);
        ASSERT_TRUE(!streq(a, b));
}

TEST_MAIN(T(untouched_when_all_set), T(fills_exactly_the_empty_ones), T(last_assignment_counts), T(placeholders),
          T(random_hex))
