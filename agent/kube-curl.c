/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See kube-internal.h (libcurl, opened with dlopen). The soname is the ABI the agent is built against; the
 * packages depend on it explicitly, since the linker no longer records it.
 */
#include <errno.h>

#include "kube-internal.h"
#include "util/macro.h"
#include "util/wipe.h"

KUBE_CURL_SYMBOLS(DLIB_DEFINE_SYMBOL)

static const DLibSymbol symbols[] = { KUBE_CURL_SYMBOLS(DLIB_SYMBOL_ENTRY) };

static int global_init(void) {
        const curl_version_info_data *v = sym_curl_version_info(CURLVERSION_NOW);

        /* Before 7.87.0, a transfer that timed out while resolving a name left
         * the resolver thread running detached, inside libcurl: unloading it
         * then would crash. Since, libcurl joins the thread (CURLOPT_QUICK_EXIT
         * off, the default). The packages require 7.87.0; a build against an
         * older one keeps libcurl loaded. */
        if (!v || v->version_num < 0x075700)
                kube_curl.pinned = true;
        /* libcurl's buffers hold the bearer token and the request bodies:
         * zeroed when they are freed (util/wipe.h). */
        return sym_curl_global_init_mem(CURL_GLOBAL_DEFAULT, wipe_malloc, wipe_free, wipe_realloc, wipe_strdup,
                                        wipe_calloc) == CURLE_OK ? 0 : -EIO;
}

static void global_cleanup(void) {
        sym_curl_global_cleanup();
}

DLib kube_curl = {
        .soname = "libcurl.so.4",
        .symbols = symbols,
        .n_symbols = ELEMENTSOF(symbols),
        .after_open = global_init,
        .before_close = global_cleanup,
};
