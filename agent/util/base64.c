/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/evp.h>
#include <stdlib.h>

#include "util/base64.h"

char *base64_encode(const void *data, size_t len) {
        char *out;

        if (len > (size_t) 0x3fffffff)
                return NULL; /* EVP_EncodeBlock counts in int */
        out = malloc(4 * ((len + 2) / 3) + 1);
        if (!out)
                return NULL;
        EVP_EncodeBlock((unsigned char *) out, (const unsigned char *) data, (int) len);
        return out;
}
