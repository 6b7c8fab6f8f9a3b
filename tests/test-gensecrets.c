/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gensecrets_fill(): the machine-internal secrets that are empty or a
 * placeholder are replaced where they are written, the missing ones are
 * appended, the rest of the file stays byte for byte, and secrets a person
 * must know are never generated. Values come from a counting fake random
 * source, so the expected text is exact.
 */
#include "gensecrets.h"
#include "tests.h"

/* Every key of gensecrets_keys set, as a file that needs nothing. */
#define ALL_SET                                                                 \
        "JWT_SECRET=set-0123456789abcdef0123456789abcdef-1\n"                  \
        "CREDENTIAL_ENCRYPTION_KEY=set-0123456789abcdef0123456789abcdef-2\n"   \
        "PLATFORM_SERVICE_KEY=set-0123456789abcdef0123456789abcdef-3\n"        \
        "BROWSER_JWT_SECRET=set-0123456789abcdef0123456789abcdef-4\n"          \
        "SANDBOX_JWT_SECRET=set-0123456789abcdef0123456789abcdef-5\n"          \
        "SANDBOX_SERVICE_KEY=set-0123456789abcdef0123456789abcdef-6\n"         \
        "TURN_AUTH_SECRET=set-0123456789abcdef0123456789abcdef-7\n"            \
        "PG_PASSWORD=set-0123456789abcdef0123456789abcdef-8\n"

#define HEX(n) "00000000000000000000000000000000000000000000000000000000000000" #n

static int fake_random(char ret[65], void *userdata) {
        int *n = userdata;
        snprintf(ret, 65, "%064d", ++*n);
        return 0;
}

static char *fill(const char *text, GenSecretsReport *rep) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(envfile_freep) EnvFile *env = NULL;
        char *out = NULL;
        int n = 0;

        ASSERT_OK(envfile_parse("values.env", text, strlen(text), &env, &d));
        ASSERT_OK(gensecrets_fill(text, strlen(text), env, fake_random, &n, &out, rep));
        return out;
}

/* The keys of a report list, space-separated. */
static const char *keys(const char *const *list) {
        static char buf[512];

        buf[0] = 0;
        for (size_t i = 0; list[i]; i++)
                snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? " " : "", list[i]);
        return buf;
}

TEST(untouched_when_all_set) {
        const char *text = "# c\n" ALL_SET "\nOTHER=1\n";
        GenSecretsReport rep;
        _cleanup_free_ char *out = fill(text, &rep);

        ASSERT_STREQ(out, text);
        ASSERT_NULL(rep.filled[0]);
        ASSERT_NULL(rep.appended[0]);
        ASSERT_NULL(rep.skipped[0]);
}

/* Four keys set, lines the fill must leave as they are. */
#define FOUR_SET                                                                \
        "JWT_SECRET=x0123456789abcdef0123456789abcdef\n"                       \
        "CREDENTIAL_ENCRYPTION_KEY=x0123456789abcdef0123456789abcdef\n"        \
        "PLATFORM_SERVICE_KEY=x0123456789abcdef0123456789abcdef\n"             \
        "PG_PASSWORD=x0123456789abcdef0123456789abcdef\n"

TEST(fills_exactly_the_empty_ones) {
        const char *text = "# header\n" FOUR_SET
                           "export SANDBOX_JWT_SECRET=   # keep this comment\n"
                           "SANDBOX_SERVICE_KEY='change-me-please'\n"
                           "BROWSER_JWT_SECRET=already-set-0123456789abcdef0123456789\n"
                           "TURN_AUTH_SECRET=\"\"\n"
                           "\n"
                           "UNRELATED_SECRET=\n";
        const char *expect = "# header\n" FOUR_SET
                             "export SANDBOX_JWT_SECRET=" HEX(01) "   # keep this comment\n"
                             "SANDBOX_SERVICE_KEY='" HEX(02) "'\n"
                             "BROWSER_JWT_SECRET=already-set-0123456789abcdef0123456789\n"
                             "TURN_AUTH_SECRET=\"" HEX(03) "\"\n"
                             "\n"
                             "UNRELATED_SECRET=\n";
        GenSecretsReport rep;
        _cleanup_free_ char *out = fill(text, &rep);

        ASSERT_STREQ(out, expect);
        ASSERT_STREQ(keys(rep.filled), "SANDBOX_JWT_SECRET SANDBOX_SERVICE_KEY TURN_AUTH_SECRET");
        ASSERT_NULL(rep.appended[0]);
}

TEST(appends_the_missing_ones) {
#define KEPT                                                                    \
        "ADMIN_PASSWORD=\n"                                                     \
        "LDAP_BIND_PASSWORD=\n"                                                 \
        "SANDBOX_SERVICE_KEY=set-0123456789abcdef0123456789abcdef\n"           \
        "BROWSER_JWT_SECRET=set-0123456789abcdef0123456789abcdef\n"            \
        "PG_PASSWORD=set-0123456789abcdef0123456789abcdef\n"                   \
        "CREDENTIAL_ENCRYPTION_KEY=set-0123456789abcdef0123456789abcdef\n"     \
        "# no final newline"
        const char *text = "SANDBOX_JWT_SECRET=\n" KEPT;
        const char *expect = "SANDBOX_JWT_SECRET=" HEX(01) "\n" KEPT "\n"
                             "# machine-internal secrets, added by `nap-agent gen-secrets`\n"
                             "JWT_SECRET=" HEX(02) "\n"
                             "PLATFORM_SERVICE_KEY=" HEX(03) "\n"
                             "TURN_AUTH_SECRET=" HEX(04) "\n";
#undef KEPT
        GenSecretsReport rep;
        _cleanup_free_ char *out = fill(text, &rep);

        ASSERT_STREQ(out, expect);
        ASSERT_STREQ(keys(rep.filled), "SANDBOX_JWT_SECRET");
        ASSERT_STREQ(keys(rep.appended), "JWT_SECRET PLATFORM_SERVICE_KEY TURN_AUTH_SECRET");
}

TEST(empty_file_gets_all) {
        GenSecretsReport rep;
        _cleanup_free_ char *out = fill("", &rep);

        ASSERT_STREQ(keys(rep.appended), "JWT_SECRET CREDENTIAL_ENCRYPTION_KEY PLATFORM_SERVICE_KEY BROWSER_JWT_SECRET "
                                         "SANDBOX_JWT_SECRET SANDBOX_SERVICE_KEY TURN_AUTH_SECRET PG_PASSWORD");
        ASSERT_TRUE(strncmp(out, "# machine-internal", 18) == 0);
        ASSERT_TRUE(strstr(out, "\nPG_PASSWORD=" HEX(08) "\n"));
}

TEST(last_assignment_counts) {
        const char *text = "PG_PASSWORD=\nPG_PASSWORD=set-later\n" ALL_SET;
        GenSecretsReport rep;
        _cleanup_free_ char *out = fill(text, &rep);

        ASSERT_STREQ(out, text);
        ASSERT_NULL(rep.filled[0]);

        const char *text2 = ALL_SET "PG_PASSWORD=\"multi\nline\"\nPG_PASSWORD='change-me'  # again\n";
        _cleanup_free_ char *out2 = fill(text2, &rep);
        ASSERT_STREQ(out2, ALL_SET "PG_PASSWORD=\"multi\nline\"\nPG_PASSWORD='" HEX(01) "'  # again\n");
}

/* The value as written is replaced whatever its form: quotes, a line
 * continuation, a value spanning lines. */
TEST(spans) {
        const char *text = ALL_SET "TURN_AUTH_SECRET=\"change-me\n  (multi-line)\"\nPG_PASSWORD=change\\\n-me\n";
        GenSecretsReport rep;
        _cleanup_free_ char *out = fill(text, &rep);

        ASSERT_STREQ(out, ALL_SET "TURN_AUTH_SECRET=\"" HEX(01) "\"\nPG_PASSWORD=" HEX(02) "\n");
        ASSERT_STREQ(keys(rep.filled), "TURN_AUTH_SECRET PG_PASSWORD");
}

/* Replacing the text of KEY+=... or of an expansion would not give the value
 * bash reads: left alone, and said so. */
TEST(skips_append_and_expansion) {
        const char *text = ALL_SET "EMPTY=\nPG_PASSWORD=\nPG_PASSWORD+=\nTURN_AUTH_SECRET=${EMPTY}\n";
        GenSecretsReport rep;
        _cleanup_free_ char *out = fill(text, &rep);

        ASSERT_STREQ(out, text);
        ASSERT_NULL(rep.filled[0]);
        ASSERT_STREQ(keys(rep.skipped), "TURN_AUTH_SECRET PG_PASSWORD");
}

TEST(placeholders) {
        ASSERT_TRUE(gensecrets_is_placeholder(""));
        ASSERT_TRUE(gensecrets_is_placeholder("change-me"));
        ASSERT_TRUE(gensecrets_is_placeholder("CHANGEME-now"));
        ASSERT_TRUE(gensecrets_is_placeholder("demo-only-abc"));
        ASSERT_TRUE(!gensecrets_is_placeholder("x"));
        ASSERT_TRUE(!gensecrets_is_placeholder("do-not-change-me"));
}

TEST(never_a_person_s_secret) {
        for (size_t i = 0; gensecrets_keys[i]; i++) {
                ASSERT_TRUE(!streq(gensecrets_keys[i], "ADMIN_PASSWORD"));
                ASSERT_TRUE(!streq(gensecrets_keys[i], "LDAP_BIND_PASSWORD"));
        }
        ASSERT_NULL(gensecrets_keys[GENSECRETS_N_KEYS]);
}

TEST(random_hex) {
        char a[65], b[65];

        ASSERT_OK(gensecrets_random_hex(a, NULL));
        ASSERT_OK(gensecrets_random_hex(b, NULL));
        ASSERT_EQ(strlen(a), 64);
        ASSERT_EQ(strspn(a, "0123456789abcdef"), 64);
        ASSERT_TRUE(!streq(a, b));
}

TEST_MAIN(T(untouched_when_all_set), T(fills_exactly_the_empty_ones), T(appends_the_missing_ones),
          T(empty_file_gets_all), T(last_assignment_counts), T(spans), T(skips_append_and_expansion),
          T(placeholders), T(never_a_person_s_secret), T(random_hex))
