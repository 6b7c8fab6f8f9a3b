/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A valid values.env of 1 MiB with 100k keys (one assigned twice, one
 * expanding another) is read, configured and rendered, what `nap-agent
 * check` does, with every key where it belongs. How long that takes is a
 * figure, not a test: bench/check-large.sh prints it for the binary
 * (parsing and every key lookup are indexed, so the cost is linear in the
 * file; the linear lookups this replaced took over a minute, which the
 * test's meson timeout would still catch).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "template.h"
#include "tests.h"
#include "util/fs.h"
#include "util/strbuf.h"

#define N_KEYS 100000

static const TemplateDirs dirs = { .dir = NAP_TEST_TEMPLATES, .override_dir = "/nonexistent/nap-test" };

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
        int fd;

        text = large_file(&len);
        ASSERT_TRUE(text);
        ASSERT_TRUE(len <= 1024 * 1024);
        fd = mkstemp(path);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, text, len), (long long) len);
        close(fd);

        ASSERT_OK(config_load(path, &c, &d));
        ASSERT_OK(template_render(c, &dirs, &s, &d));
        unlink(path);

        ASSERT_TRUE(!diag_has_errors(&d));
        ASSERT_TRUE(s->n_objects > 0);
        ASSERT_EQ(c->env->n_entries, N_KEYS + 10);
        ASSERT_STREQ(config_get(c, "K00000"), "again");
        ASSERT_STREQ(config_get(c, "K99999"), "9");
        ASSERT_STREQ(config_get(c, "LAST"), "0x");
}

TEST_MAIN(T(hundred_thousand_keys))
