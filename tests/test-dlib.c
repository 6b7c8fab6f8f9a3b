/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util/dlib with the real libraries: libcurl and libpq are mapped while a
 * user holds them and gone from /proc/self/maps after the last close; a
 * missing library or symbol fails cleanly and leaves nothing mapped. This
 * binary does not link libcurl or libpq itself.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kube-internal.h"
#include "oauth-internal.h"
#include "tests.h"
#include "util/dlib.h"
#include "util/macro.h"

/* Whether a file whose name starts with prefix is mapped in this process. */
static bool mapped(const char *prefix) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/maps", "re");
        char line[4096];

        if (!f)
                return false;
        while (fgets(line, sizeof line, f)) {
                const char *name = strrchr(line, '/');
                if (name && strncmp(name + 1, prefix, strlen(prefix)) == 0)
                        return true;
        }
        return false;
}

TEST(curl_open_close) {
        char err[256];

        ASSERT_TRUE(!mapped("libcurl.so"));
        ASSERT_OK(dlib_open(&kube_curl, err, sizeof err));
        ASSERT_TRUE(dlib_is_open(&kube_curl) && mapped("libcurl.so"));
        ASSERT_TRUE(sym_curl_easy_strerror != NULL);
        ASSERT_STREQ(sym_curl_easy_strerror(CURLE_OK), "No error");

        /* a second user keeps it open after the first one closes */
        ASSERT_OK(dlib_open(&kube_curl, err, sizeof err));
        dlib_close(&kube_curl);
        ASSERT_TRUE(dlib_is_open(&kube_curl) && mapped("libcurl.so"));
        dlib_close(&kube_curl);
        ASSERT_TRUE(!dlib_is_open(&kube_curl));
        ASSERT_TRUE(sym_curl_easy_strerror == NULL);
        ASSERT_TRUE(!mapped("libcurl.so"));
        ASSERT_TRUE(!mapped("libldap"));

        /* and it opens again */
        ASSERT_OK(dlib_open(&kube_curl, err, sizeof err));
        ASSERT_TRUE(mapped("libcurl.so"));
        dlib_close(&kube_curl);
        ASSERT_TRUE(!mapped("libcurl.so"));
        dlib_close(&kube_curl); /* one close too many does nothing */
        ASSERT_TRUE(!dlib_is_open(&kube_curl));
}

TEST(pq_open_close) {
        char err[256];

        ASSERT_OK(dlib_open(&oauth_pq, err, sizeof err));
        ASSERT_TRUE(mapped("libpq.so") && dlib_is_open(&oauth_pq));
        ASSERT_TRUE(sym_PQconninfoParse != NULL);
        dlib_close(&oauth_pq);
        ASSERT_TRUE(!mapped("libpq.so") && !dlib_is_open(&oauth_pq));
        ASSERT_TRUE(sym_PQconninfoParse == NULL);
}

static void *no_such_fn;
static void *curl_version_fn;

TEST(missing_library) {
        DLibSymbol syms[] = { { "x", &no_such_fn } };
        DLib lib = { .soname = "libnap-agent-no-such-library.so.0", .symbols = syms, .n_symbols = 1 };
        char err[256] = "";

        ASSERT_EQ(dlib_open(&lib, err, sizeof err), -ELIBACC);
        ASSERT_TRUE(strstr(err, "libnap-agent-no-such-library.so.0 could not be loaded") == err);
        ASSERT_TRUE(!dlib_is_open(&lib));
}

TEST(missing_symbol) {
        DLibSymbol syms[] = { { "curl_version", &curl_version_fn }, { "nap_agent_no_such_symbol", &no_such_fn } };
        DLib lib = { .soname = "libcurl.so.4", .symbols = syms, .n_symbols = ELEMENTSOF(syms) };
        char err[256] = "";

        ASSERT_EQ(dlib_open(&lib, err, sizeof err), -ELIBBAD);
        ASSERT_STREQ(err, "libcurl.so.4 lacks the symbol 'nap_agent_no_such_symbol'");
        ASSERT_TRUE(!dlib_is_open(&lib));
        ASSERT_TRUE(curl_version_fn == NULL && no_such_fn == NULL);
        ASSERT_TRUE(!mapped("libcurl.so"));
}

static DLib pinned_pq;
static void *pq_version_fn;

static int pin(void) {
        pinned_pq.pinned = true;
        return 0;
}

/* Last: a pinned library stays mapped for the rest of the process. */
TEST(pinned_stays) {
        DLibSymbol syms[] = { { "PQlibVersion", &pq_version_fn } };
        char err[256];

        pinned_pq = (DLib) { .soname = "libpq.so.5", .symbols = syms, .n_symbols = 1, .after_open = pin };
        ASSERT_TRUE(!mapped("libpq.so"));
        ASSERT_OK(dlib_open(&pinned_pq, err, sizeof err));
        dlib_close(&pinned_pq);
        ASSERT_TRUE(dlib_is_open(&pinned_pq) && mapped("libpq.so") && pq_version_fn != NULL);
        /* and a later open finds it loaded, with its symbols */
        ASSERT_OK(dlib_open(&pinned_pq, err, sizeof err));
        ASSERT_TRUE(pq_version_fn != NULL);
        dlib_close(&pinned_pq);
        ASSERT_TRUE(mapped("libpq.so"));
}

TEST(curl_unloads) {
        char err[256];

        /* the libcurl the packages require (>= 7.87.0) is not pinned */
        ASSERT_OK(dlib_open(&kube_curl, err, sizeof err));
        ASSERT_TRUE(sym_curl_version_info(CURLVERSION_NOW)->version_num >= 0x075700);
        dlib_close(&kube_curl);
        ASSERT_TRUE(!dlib_is_open(&kube_curl) && !mapped("libcurl.so"));
}

TEST_MAIN(T(curl_open_close), T(pq_open_close), T(missing_library), T(missing_symbol), T(curl_unloads),
          T(pinned_stays))
