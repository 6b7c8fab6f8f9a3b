/* SPDX-License-Identifier: Apache-2.0 */
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube-harness.h"
#include "util/clock.h"

const char *api_url, *token, *ca_file;
char tmpdir[256], ca_b64[8192];

int kube_harness_init(const char *prog, const char *const *more) {
        char cmd[600];
        FILE *f;
        bool ok;

        api_url = getenv("KUBE_API_URL");
        token = getenv("KUBE_TOKEN");
        ca_file = getenv("KUBE_CA_FILE");
        ok = api_url && token && ca_file && strncmp(api_url, "https://", 8) == 0;
        for (size_t i = 0; ok && more && more[i]; i++)
                ok = getenv(more[i]) != NULL;
        if (!ok) {
                fprintf(stderr, "%s: run me through tests/harness/with-harness.sh (KUBE_API_URL, KUBE_TOKEN, "
                                "KUBE_CA_FILE", prog);
                for (size_t i = 0; more && more[i]; i++)
                        fprintf(stderr, ", %s", more[i]);
                fprintf(stderr, ")\n");
                return -1;
        }
        snprintf(tmpdir, sizeof tmpdir, "/tmp/%s.XXXXXX", prog);
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return -1;
        }
        snprintf(cmd, sizeof cmd, "base64 -w0 '%s'", ca_file);
        f = popen(cmd, "r");
        ok = f && fgets(ca_b64, sizeof ca_b64, f);
        if (f)
                pclose(f);
        if (!ok) {
                fprintf(stderr, "%s: could not read %s as base64\n", prog, ca_file);
                return -1;
        }
        return 0;
}

const char *tmp_path(const char *name) {
        static char p[8][512];
        static unsigned i;
        char *s = p[i++ % 8];
        snprintf(s, 512, "%s/%s", tmpdir, name);
        return s;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

int kube_harness_done(void) {
        return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

double now(void) {
        return (double) now_usec() / 1e6;
}
