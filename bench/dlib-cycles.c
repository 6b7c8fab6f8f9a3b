/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dlib-cycles N [EVERY]: N load/use/unload cycles of libcurl and libpq the
 * way the daemon goes through them between idle periods (util/dlib via the
 * product's clients): a KubeClient from $KUBECONFIG that GETs /version over
 * TLS, then an OAuthDb on $DATABASE_URL that reads one oauth_clients row;
 * both freed, which closes the last user of each library and unloads it.
 * After every cycle it checks /proc/self/maps that neither library is
 * still mapped; every EVERY cycles (default 100) it prints VmRSS. Exits 1
 * on the first failed request or a library left mapped. Run by
 * bench/dlib-cycles.sh, natively and under valgrind; a benchmark, not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"
#include "oauth.h"
#include "util/macro.h"

static bool mapped(const char *prefix) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/maps", "re");
        char line[4096];

        while (f && fgets(line, sizeof line, f)) {
                const char *name = strrchr(line, '/');
                if (name && strncmp(name + 1, prefix, strlen(prefix)) == 0)
                        return true;
        }
        return false;
}

static long rss_kib(void) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        long kib = -1;

        while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        return kib;
}

static int one_cycle(const char *kubeconfig, const char *conninfo) {
        _cleanup_(kube_client_freep) KubeClient *c = NULL;
        _cleanup_(oauth_db_freep) OAuthDb *db = NULL;
        OAuthClient *row = NULL;
        KubeError kerr = { 0 };
        OAuthError oerr = { 0 };
        cJSON *version = NULL;
        int r;

        r = kube_client_new(kubeconfig, NULL, NULL, &c, &kerr);
        if (r >= 0)
                r = kube_get_path(c, "/version", &version, &kerr);
        cJSON_Delete(version);
        if (r < 0)
                return fprintf(stderr, "kube: %s\n", kerr.message), r;
        c = kube_client_free(c);

        r = oauth_db_connect(conninfo, NULL, &db, &oerr);
        if (r >= 0) {
                r = oauth_get(db, "sandbox-service", &row, &oerr); /* 0: no such row */
                oauth_client_free(row);
        }
        if (r < 0)
                return fprintf(stderr, "oauth: %s\n", oerr.message), r;
        return 0;
}

int main(int argc, char **argv) {
        const char *kubeconfig = getenv("KUBECONFIG"), *conninfo = getenv("DATABASE_URL");
        long n = argc > 1 ? atol(argv[1]) : 0, every = argc > 2 ? atol(argv[2]) : 100;

        if (n <= 0 || every <= 0 || !kubeconfig || !conninfo) {
                fprintf(stderr, "usage: KUBECONFIG=... DATABASE_URL=... dlib-cycles N [EVERY]\n");
                return 2;
        }
        printf("cycle %6d  VmRSS %6ld KiB\n", 0, rss_kib());
        for (long i = 1; i <= n; i++) {
                if (one_cycle(kubeconfig, conninfo) < 0) {
                        fprintf(stderr, "cycle %ld failed\n", i);
                        return 1;
                }
                if (mapped("libcurl.so") || mapped("libpq.so")) {
                        fprintf(stderr, "cycle %ld: libcurl or libpq still mapped after the last close\n", i);
                        return 1;
                }
                if (i % every == 0 || i == n)
                        printf("cycle %6ld  VmRSS %6ld KiB\n", i, rss_kib());
                fflush(stdout);
        }
        printf("%ld cycles: each loaded, used and unloaded libcurl and libpq\n", n);
        return 0;
}
