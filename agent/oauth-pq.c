/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See oauth-pq.h. The soname is the ABI the agent is built against; the
 * packages depend on it explicitly, since the linker no longer records it.
 */
#include "oauth-pq.h"
#include "util/dlib.h"
#include "util/macro.h"

#define OAUTH_PQ_DEFINE(f) __typeof__(f) *sym_##f;
OAUTH_PQ_SYMBOLS(OAUTH_PQ_DEFINE)
#undef OAUTH_PQ_DEFINE

#define OAUTH_PQ_ENTRY(f) { #f, (void **) &sym_##f },
static const DLibSymbol symbols[] = { OAUTH_PQ_SYMBOLS(OAUTH_PQ_ENTRY) };
#undef OAUTH_PQ_ENTRY

static DLib libpq = {
        .soname = "libpq.so.5",
        .symbols = symbols,
        .n_symbols = ELEMENTSOF(symbols),
};

int oauth_pq_open(char *err, size_t err_size) {
        return dlib_open(&libpq, err, err_size);
}

void oauth_pq_close(void) {
        dlib_close(&libpq);
}

bool oauth_pq_is_open(void) {
        return dlib_is_open(&libpq);
}
