/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `nap-agent gen-secrets`: fills empty or placeholder secrets of values.env
 * in place (see gensecrets.h), replacing the file atomically with its mode
 * and owner kept, so a running daemon sees exactly one edit. Prints which
 * keys it filled, never their values.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-verbs.h"
#include "gensecrets.h"
#include "nap-config.h"
#include "util/fs.h"
#include "util/log.h"

#define VALUES_MAX_BYTES (1024 * 1024)

/* The bundled example: the source tree's when run from the build tree. */
static const char *example_path(void) {
        return exe_is_below(NAP_BUILD_ROOT) ? NAP_SOURCE_EXAMPLE_VALUES : NAP_EXAMPLE_VALUES;
}

static int read_or_create(const char *path, char **ret, size_t *ret_len) {
        int r = read_full_file(path, VALUES_MAX_BYTES, ret, ret_len);

        if (r != -ENOENT)
                return r < 0 ? log_error_errno(r, "Failed to read '%s': %s", path, STRERROR(r)) : 0;
        r = read_full_file(example_path(), VALUES_MAX_BYTES, ret, ret_len);
        if (r < 0)
                return log_error_errno(r, "'%s' does not exist and the example '%s' cannot be read: %s", path,
                                       example_path(), STRERROR(r));
        log_info("'%s' did not exist: creating it from '%s'", path, example_path());
        return 1;
}

int cli_gen_secrets(CliArgs *a) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(envfile_freep) EnvFile *env = NULL;
        _cleanup_free_ char *text = NULL, *out = NULL;
        char **filled = NULL;
        size_t len;
        int r, created;

        created = read_or_create(a->values, &text, &len);
        if (created < 0)
                return CLI_EXIT_FAILURE;
        r = envfile_parse(a->values, text, len, &env, &d);
        for (size_t i = 0; i < d.n; i++)
                diag_print(&d.items[i], stderr);
        if (r < 0) {
                log_error("%s: not touching a file that does not parse", a->values);
                return CLI_EXIT_FAILURE;
        }
        r = gensecrets_fill(text, len, env, gensecrets_random_hex, NULL, &out, &filled);
        if (r < 0) {
                log_error_errno(r, "Failed to generate secrets: %s", STRERROR(r));
                return CLI_EXIT_FAILURE;
        }
        if (filled[0] || created) {
                /* New files are group-readable for the agent's group only. */
                r = write_file_atomic(a->values, out, strlen(out), 0640, 1);
                if (r < 0)
                        log_error_errno(r, "Failed to write '%s': %s", a->values, STRERROR(r));
        }
        explicit_bzero(out, strlen(out));
        for (size_t i = 0; filled[i]; i++)
                printf("filled %s\n", filled[i]);
        if (!filled[0])
                printf("nothing to fill: every secret in '%s' is set\n", a->values);
        for (size_t i = 0; filled[i]; i++)
                free(filled[i]);
        free(filled);
        return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
