/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util/redact: every form of a secret a server may echo becomes
 * "<redacted>", the previous configuration's secrets too, and nothing else
 * is touched. The encodings the test builds its inputs with are written
 * here independently (a base64 encoder, and the JSON escapes of cJSON, Go's
 * encoding/json and Python's json.dumps as documented), not taken from the
 * code under test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tests.h"
#include "util/redact.h"

static char *b64(const unsigned char *p, size_t n) {
        static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;

        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned) p[i] << 16 | (i + 1 < n ? (unsigned) p[i + 1] << 8 : 0) |
                             (i + 2 < n ? p[i + 2] : 0);
                *o++ = a[v >> 18 & 63];
                *o++ = a[v >> 12 & 63];
                *o++ = i + 1 < n ? a[v >> 6 & 63] : '=';
                *o++ = i + 2 < n ? a[v & 63] : '=';
        }
        *o = 0;
        return out;
}

static void set1(const char *a) {
        const char *v[] = { a };
        ASSERT_OK(redact_set_secrets(v, 1));
}

static void expect(const char *in, const char *want) {
        char *out = redact(in);
        ASSERT_STREQ(out, want);
        free(out);
}

TEST(nothing_known) {
        redact_forget_secrets();
        expect("a message with nothing secret in it", "a message with nothing secret in it");
        ASSERT_EQ(redact_n_secrets(), 0);
}

TEST(plain_and_standalone_base64) {
        const char *secret = "s3cret-value-0123456789abcdef";
        char *enc = b64((const unsigned char *) secret, strlen(secret)), msg[512], want[512];

        set1(secret);
        snprintf(msg, sizeof msg, "Secret \"x\" is invalid: data[K]: Invalid value: \"%s\" (%s)", secret, enc);
        expect(msg, "Secret \"x\" is invalid: data[K]: Invalid value: \"<redacted>\" (<redacted>)");
        /* unpadded, as some encoders write it */
        enc[strcspn(enc, "=")] = 0;
        snprintf(msg, sizeof msg, "token %s.", enc);
        snprintf(want, sizeof want, "token <redacted>%s.", "");
        char *out = redact(msg);
        /* at most one character (bits of the last byte mixed with padding) may remain */
        ASSERT_TRUE(strncmp(out, "token <redacted>", 16) == 0 && strlen(out) <= strlen(want) + 1);
        free(out);
        free(enc);
}

/* A secret inside a longer base64 text (a whole request body encoded): at
 * every alignment, only the characters that also depend on the bytes around
 * the secret may remain. */
TEST(base64_any_alignment) {
        const char *secret = "0123456789abcdef0123456789abcdef";
        size_t n = strlen(secret);

        set1(secret);
        for (size_t pre = 0; pre < 6; pre++)
                for (size_t post = 0; post < 4; post++) {
                        unsigned char buf[64];
                        memset(buf, '~', sizeof buf);
                        memcpy(buf + pre, secret, n);
                        char *enc = b64(buf, pre + n + post), *out = redact(enc);
                        char *r = strstr(out, REDACTED);
                        ASSERT_TRUE(r != NULL);
                        size_t before = (size_t) (r - out), after = strlen(r + strlen(REDACTED));
                        /* what is left before: the characters of the prefix bytes (+1 mixing) */
                        ASSERT_TRUE(before <= (pre * 8 + 5) / 6);
                        ASSERT_TRUE(strncmp(out, enc, before) == 0);
                        ASSERT_TRUE(strlen(enc) - after >= ((pre + n) * 8) / 6);
                        free(enc);
                        free(out);
                }
}

TEST(json_escaped_forms) {
        const char *secret = "pa\"ss\\w<o>rd&\xc3\xa9\n\x01-long-enough";
        char *text, *out;
        cJSON *j;

        set1(secret);
        /* cJSON (minimal escapes) */
        j = cJSON_CreateString(secret);
        text = cJSON_PrintUnformatted(j);
        out = redact(text);
        ASSERT_STREQ(out, "\"<redacted>\"");
        free(out);
        free(text);
        cJSON_Delete(j);
        /* Go's encoding/json: < > & as \u003c \u003e \u0026 */
        expect("\"pa\\\"ss\\\\w\\u003co\\u003erd\\u0026\xc3\xa9\\n\\u0001-long-enough\"", "\"<redacted>\"");
        /* Python's json.dumps: every non-ASCII character as \uXXXX */
        expect("{\"m\": \"pa\\\"ss\\\\w<o>rd&\\u00e9\\n\\u0001-long-enough\"}", "{\"m\": \"<redacted>\"}");
        /* escaped twice: a JSON body quoted inside a JSON message */
        expect("\"pa\\\\\\\"ss\\\\\\\\w<o>rd&\xc3\xa9\\\\n\\\\u0001-long-enough\"", "\"<redacted>\"");
}

TEST(previous_configuration) {
        const char *a = "first-secret-aaaaaaaa", *b = "second-secret-bbbbbbb", *c = "third-secret-cccccccc";
        char msg[256];

        redact_forget_secrets();
        set1(a);
        set1(b);
        snprintf(msg, sizeof msg, "%s %s %s", a, b, c);
        expect(msg, "<redacted> <redacted> third-secret-cccccccc");
        ASSERT_EQ(redact_n_secrets(), 2);
        /* the same set again is no change: a stays the previous one */
        set1(b);
        expect(msg, "<redacted> <redacted> third-secret-cccccccc");
        set1(c);
        expect(msg, "first-secret-aaaaaaaa <redacted> <redacted>");
        redact_forget_secrets();
        expect(msg, msg);
}

TEST(longest_form_wins_and_several_values) {
        const char *v[] = { "abcdefgh", "abcdefghijkl", "", NULL };

        ASSERT_OK(redact_set_secrets(v, 4));
        expect("x abcdefghijkl y abcdefgh z", "x <redacted> y <redacted> z");
}

TEST(short_values_only_as_words) {
        set1("nap");
        expect("nap-sandbox: password nap rejected", "nap-sandbox: password <redacted> rejected");
        expect("snapshot", "snapshot");
}

TEST(in_place_truncated) {
        char buf[64], small[16];

        set1("0123456789abcdef-secret");
        snprintf(buf, sizeof buf, "e: %s.", "0123456789abcdef-secret");
        ASSERT_EQ(redact_buf(buf, sizeof buf), 1);
        ASSERT_STREQ(buf, "e: <redacted>.");
        /* "<redacted>" is longer than a short secret: cut at the buffer's end */
        set1("abcd");
        snprintf(small, sizeof small, "x abcd abcd");
        ASSERT_EQ(redact_buf(small, sizeof small), 2);
        ASSERT_STREQ(small, "x <redacted> <r");
}

TEST(forms) {
        char **f = redact_forms("0123456789");
        size_t n = 0;

        ASSERT_TRUE(f != NULL);
        for (char **p = f; *p; p++, n++)
                if (p != f)
                        ASSERT_TRUE(strlen(p[-1]) >= strlen(*p));
        ASSERT_TRUE(n >= 3); /* plain, base64 padded, base64 at offsets */
        redact_forms_free(f);
        f = redact_forms("");
        ASSERT_TRUE(f && !f[0]);
        redact_forms_free(f);
}

TEST_MAIN(T(nothing_known), T(plain_and_standalone_base64), T(base64_any_alignment), T(json_escaped_forms),
          T(previous_configuration), T(longest_form_wins_and_several_values), T(short_values_only_as_words),
          T(in_place_truncated), T(forms))
