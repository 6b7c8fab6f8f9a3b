/* SPDX-License-Identifier: Apache-2.0 */
#include "tests.h"

jmp_buf test_jmp;
int test_failed_flag;
const char *test_context;

/* TEST_ONLY=NAME runs that one case; a name that selects none (a typo, a
 * renamed case) is a failure, not a run of nothing that passes. */
int test_run(const TestCase *cases, size_t n) {
        const char *only = getenv("TEST_ONLY");
        volatile unsigned passed = 0, failed = 0;

        for (volatile size_t i = 0; i < n; i++) {
                if (only && strcmp(only, cases[i].name) != 0)
                        continue;
                test_failed_flag = 0;
                test_context = NULL;
                if (setjmp(test_jmp) == 0)
                        cases[i].func();
                if (test_failed_flag) {
                        printf("FAIL %s\n", cases[i].name);
                        failed++;
                } else {
                        printf("ok   %s\n", cases[i].name);
                        passed++;
                }
                fflush(stdout);
        }
        printf("%u passed, %u failed\n", passed, failed);
        if (passed + failed == 0) {
                if (only)
                        fprintf(stderr, "TEST_ONLY='%s' selects no case of this program\n", only);
                else
                        fprintf(stderr, "no test case ran\n");
                return 1;
        }
        return failed ? 1 : 0;
}
