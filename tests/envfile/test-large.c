/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A valid values.env of 1 MiB with 100k keys is read, configured and
 * rendered (what `nap-agent check` does) in well under a second: parsing
 * and every key lookup are indexed, so the cost is linear in the file. The
 * bound (2 s) is generous for a loaded CI machine; with the linear lookups
 * this replaced the same work took over a minute. Under valgrind, which
 * runs code some 20-50 times slower, the bound is 30 s. bench/check-large.sh
 * prints the real figure of the binary.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "template.h"
#include "tests.h"
#include "util/fs.h"
#include "util/strbuf.h"

#if HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#define N_KEYS 100000

static const TemplateDirs dirs = { .dir = NAP_TEST_TEMPLATES, .override_dir = "/nonexistent/nap-test" };

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Both modules on, then N_KEYS unknown keys, one assigned twice, one
 * expanding another: 1 MiB at most. */
static char *large_file(size_t *ret_len) {
        StrBuf b = { 0 };

        strbuf_puts(&b, "NAP_HOST=203.0.113.7\nTURN_HOST=203.0.113.8\nSANDBOX_ENABLED=true\nBROWSER_ENABLED=true\n"
                        "SANDBOX_JWT_SECRET=sandbox-jwt-0123456789abcdef0123456789abcdef\n"
                        "SANDBOX_SERVICE_KEY=service-key-0123456789abcdef0123456789abcdef\n"
                        "BROWSER_JWT_SECRET=browser-jwt-0123456789abcdef0123456789abcdef\n"
                        "TURN_AUTH_SECRET=turn-secret-0123456789abcdef0123456789abcdef\n");
        for (unsigned i = 0; i < N_KEYS; i++)
                strbuf_printf(&b, "K%05u=%u\n", i, i % 10);
        strbuf_puts(&b, "K00000=again\nLAST=${K50000}x\n");
        *ret_len = b.len;
        return strbuf_steal(&b);
}

TEST(hundred_thousand_keys) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(desired_set_freep) DesiredSet *s = NULL;
        _cleanup_free_ char *text = NULL;
        char path[] = "/tmp/nap-test-large-XXXXXX";
        size_t len = 0;
        double t0, t;
        int fd;

        text = large_file(&len);
        ASSERT_TRUE(text);
        ASSERT_TRUE(len <= 1024 * 1024);
        fd = mkstemp(path);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, text, len), (long long) len);
        close(fd);

        t0 = now();
        ASSERT_OK(config_load(path, &c, &d));
        ASSERT_OK(template_render(c, &dirs, &s, &d));
        t = now() - t0;
        unlink(path);

        printf("  1 MiB, %u keys: loaded and rendered in %.0f ms\n", N_KEYS, t * 1000);
        ASSERT_TRUE(!diag_has_errors(&d));
        ASSERT_TRUE(s->n_objects > 0);
        ASSERT_EQ(c->env->n_entries, N_KEYS + 10);
        ASSERT_STREQ(config_get(c, "K00000"), "again");
        ASSERT_STREQ(config_get(c, "K99999"), "9");
        ASSERT_STREQ(config_get(c, "LAST"), "0x");
        ASSERT_TRUE(t < (RUNNING_ON_VALGRIND ? 30.0 : 2.0));
}

TEST_MAIN(T(hundred_thousand_keys))
