/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See oauth-internal.h. The soname is the ABI the agent is built against; the
 * packages depend on it explicitly, since the linker no longer records it.
 */
#include "oauth-internal.h"
#include "util/macro.h"

OAUTH_PQ_SYMBOLS(DLIB_DEFINE_SYMBOL)

static const DLibSymbol symbols[] = { OAUTH_PQ_SYMBOLS(DLIB_SYMBOL_ENTRY) };

DLib oauth_pq = {
        .soname = "libpq.so.5",
        .symbols = symbols,
        .n_symbols = ELEMENTSOF(symbols),
};
