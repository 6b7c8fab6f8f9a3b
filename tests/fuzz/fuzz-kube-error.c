/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes kube_error_from_response(), which turns what a server (or a proxy
 * in front of it) answered with an HTTP error into one line: no body may
 * crash it or leave the message unterminated, and the result is a negative
 * errno. The first two bytes choose the status (400-599), the rest is the
 * body.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        KubeError err = { 0 };
        long status;
        char *body;
        int r;

        if (size < 2 || size > 1024 * 1024)
                return 0;
        status = 400 + (long) ((data[0] << 8 | data[1]) % 200);
        body = malloc(size - 2 + 1);
        if (!body)
                return 0;
        memcpy(body, data + 2, size - 2);
        body[size - 2] = 0;
        r = kube_error_from_response(status, body, &err);
        CHECK(r < 0 && r > -4096);
        CHECK(memchr(err.message, 0, sizeof err.message) && err.message[0]);
        CHECK(memchr(err.reason, 0, sizeof err.reason));
        CHECK(err.http_status == status);
        free(body);
        return 0;
}
