/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replays fuzzer inputs without libFuzzer: every file named on the command
 * line, or in a directory named there, goes through LLVMFuzzerTestOneInput
 * once. Built always, so each fuzzer's corpus is an ordinary unit test.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "util/fs.h"
#include "util/macro.h"

#define REPLAY_MAX (4u * 1024u * 1024u)

static int replay_file(const char *path) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r;

        r = read_full_file(path, REPLAY_MAX, &buf, &len);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
                return r;
        }
        LLVMFuzzerTestOneInput((const uint8_t *) buf, len);
        return 0;
}

static int replay_dir(const char *dir, unsigned *n) {
        struct dirent **names = NULL;
        int k, r = 0;

        k = scandir(dir, &names, NULL, alphasort);
        if (k < 0) {
                fprintf(stderr, "%s: %s\n", dir, strerror(errno));
                return -errno;
        }
        for (int i = 0; i < k; i++) {
                _cleanup_free_ char *path = NULL;
                struct stat st;

                if (names[i]->d_name[0] != '.' && asprintf(&path, "%s/%s", dir, names[i]->d_name) >= 0 &&
                    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        if (replay_file(path) < 0)
                                r = -EIO;
                        (*n)++;
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv) {
        unsigned n = 0;
        int r = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (replay_dir(argv[i], &n) < 0)
                                r = 1;
                } else {
                        if (replay_file(argv[i]) < 0)
                                r = 1;
                        n++;
                }
        }
        printf("replayed %u inputs\n", n);
        return n == 0 ? 1 : r;
}
