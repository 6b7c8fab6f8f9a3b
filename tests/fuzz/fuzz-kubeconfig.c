/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes kube_config_parse(), the YAML a kubeconfig file holds: no input may
 * crash it, leak, or break its contract: success gives a context, a cluster
 * and a server without a trailing "/" (it was an http(s) URL before the
 * slashes were dropped, so "http://" gives "http:"), a token without a line
 * break, a client certificate only with its key; failure a negative errno,
 * no config and a message. Files it names resolve below a directory that does
 * not exist, so relative ones are never read (absolute ones are, as in the
 * agent: a token file is a path).
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "kube-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        KubeConfig *k = NULL;
        KubeError err = { 0 };
        int r;

        if (size > 256 * 1024)
                return 0;
        r = kube_config_parse("/nonexistent/nap-fuzz/kubeconfig", (const char *) data, size, &k, &err);
        if (r >= 0) {
                size_t n;

                CHECK(k && k->path && k->context && k->cluster && k->server);
                CHECK(strncmp(k->server, "https:", 6) == 0 || strncmp(k->server, "http:", 5) == 0);
                n = strlen(k->server);
                CHECK(n > 0 && k->server[n - 1] != '/');
                CHECK(!k->token || !strpbrk(k->token, "\r\n"));
                CHECK(!!k->client_cert.size == !!k->client_key.size);
        } else {
                CHECK(!k);
                CHECK(r > -4096);
                CHECK(r == -ENOMEM || (memchr(err.message, 0, sizeof err.message) && err.message[0]));
        }
        kube_config_free(k);
        return 0;
}
