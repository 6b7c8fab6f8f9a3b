/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal test helpers: each test binary runs its TEST() functions in order,
 * prints one line per test and "N passed, N failed" at the end, and exits
 * non-zero when anything failed. Assertions abort only the current test.
 */
#pragma once

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*TestFunc)(void);
typedef struct TestCase {
        const char *name;
        TestFunc func;
} TestCase;

extern jmp_buf test_jmp;
extern int test_failed_flag;
/* The row a table-driven test is checking, printed with a failure; reset
 * to NULL before each test. */
extern const char *test_context;

#define TEST_FAIL(...)                                                          \
        do {                                                                    \
                fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);              \
                if (test_context)                                               \
                        fprintf(stderr, "[%s] ", test_context);                 \
                fprintf(stderr, __VA_ARGS__);                                   \
                fputc('\n', stderr);                                            \
                test_failed_flag = 1;                                           \
                longjmp(test_jmp, 1);                                           \
        } while (0)

#define ASSERT_TRUE(x)                                                          \
        do {                                                                    \
                if (!(x))                                                       \
                        TEST_FAIL("assertion failed: %s", #x);                  \
        } while (0)

#define ASSERT_EQ(a, b)                                                         \
        do {                                                                    \
                long long _a = (long long) (a), _b = (long long) (b);           \
                if (_a != _b)                                                   \
                        TEST_FAIL("%s == %s: %lld != %lld", #a, #b, _a, _b);    \
        } while (0)

#define ASSERT_STREQ(a, b)                                                      \
        do {                                                                    \
                const char *_a = (a), *_b = (b);                                \
                if (!_a || !_b || strcmp(_a, _b) != 0)                          \
                        TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,         \
                                  _a ? _a : "(null)", _b ? _b : "(null)");      \
        } while (0)

#define ASSERT_NULL(a) ASSERT_TRUE((a) == NULL)
#define ASSERT_OK(r)                                                            \
        do {                                                                    \
                long long _r = (long long) (r);                                 \
                if (_r < 0)                                                     \
                        TEST_FAIL("%s failed: %lld (%s)", #r, _r, strerror((int) -_r)); \
        } while (0)

#define TEST(name) static void test_##name(void)
#define T(name) { #name, test_##name }

/* Runs cases; returns the process exit status. */
int test_run(const TestCase *cases, size_t n);

#define TEST_MAIN(...)                                                          \
        int main(void) {                                                        \
                static const TestCase cases[] = { __VA_ARGS__ };                \
                return test_run(cases, sizeof cases / sizeof cases[0]);        \
        }
