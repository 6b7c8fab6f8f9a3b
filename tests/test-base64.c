/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util/base64: RFC 4648's test vectors both ways, every byte value through
 * a round trip, whitespace ignored when decoding, and everything else a
 * strict decoder refuses (a length that is not a multiple of 4, padding
 * that is not at the end or more than two, characters outside the
 * standard alphabet, nothing at all).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"
#include "util/base64.h"
#include "util/macro.h"

static const char *const vectors[][2] = {
        { "", "" },         { "f", "Zg==" },        { "fo", "Zm8=" },         { "foo", "Zm9v" },
        { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

TEST(rfc4648_vectors) {
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                _cleanup_free_ char *enc = base64_encode(vectors[i][0], strlen(vectors[i][0]));
                ASSERT_STREQ(enc, vectors[i][1]);
                if (!*vectors[i][0])
                        continue;
                _cleanup_free_ unsigned char *dec = NULL;
                size_t n = 0;
                ASSERT_OK(base64_decode(vectors[i][1], &dec, &n));
                ASSERT_EQ(n, strlen(vectors[i][0]));
                ASSERT_TRUE(memcmp(dec, vectors[i][0], n) == 0);
                ASSERT_EQ(dec[n], 0);
        }
}

TEST(every_byte_round_trip) {
        unsigned char all[256];
        _cleanup_free_ unsigned char *dec = NULL;
        size_t n = 0;

        for (size_t i = 0; i < sizeof all; i++)
                all[i] = (unsigned char) i;
        _cleanup_free_ char *enc = base64_encode(all, sizeof all);
        ASSERT_TRUE(enc);
        ASSERT_EQ(strlen(enc), 344);
        ASSERT_OK(base64_decode(enc, &dec, &n));
        ASSERT_EQ(n, sizeof all);
        ASSERT_TRUE(memcmp(dec, all, sizeof all) == 0);
}

TEST(whitespace_ignored) {
        _cleanup_free_ unsigned char *dec = NULL;
        size_t n = 0;

        ASSERT_OK(base64_decode(" aGVs\n\tbG8h\r\n", &dec, &n));
        ASSERT_EQ(n, 6);
        ASSERT_TRUE(memcmp(dec, "hello!", 6) == 0);
}

TEST(refused) {
        static const char *const bad[] = { "aGVsbG8", "aA==aA==", "a===", "====", "", " \n", "a-b_", "aGVs*G8h", "=aGV" };
        unsigned char *dec = NULL;
        size_t n = 7;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                test_context = bad[i];
                ASSERT_EQ(base64_decode(bad[i], &dec, &n), -EINVAL);
                ASSERT_NULL(dec);
                ASSERT_EQ(n, 7);
        }
}

TEST_MAIN(T(rfc4648_vectors), T(every_byte_round_trip), T(whitespace_ignored), T(refused))
