/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `nap-agent gen-secrets`: fills empty or placeholder machine-internal
 * secrets of values.env in place and appends the missing ones (see
 * gensecrets.h). The file is replaced atomically with its mode and owner
 * kept, so a running daemon sees exactly one edit. When values.env is a
 * symlink (to a config repository, say), the file it points to is replaced,
 * in its own directory, and the link stays. Prints which keys it filled or
 * appended, never their values.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli-internal.h"
#include "gensecrets.h"
#include "nap-config.h"
#include "util/fs.h"
#include "util/log.h"

/* The example a missing values.env is made from: $NAP_EXAMPLE_VALUES, else
 * the installed one. */
static const char *example_path(void) {
        const char *e = getenv("NAP_EXAMPLE_VALUES");

        return e ? e : NAP_EXAMPLE_VALUES;
}

/* The file a chain of symlinks starting at path ends at, which need not
 * exist yet (a dangling link: that is where the file is created). */
static int resolve_links(const char *path, char **ret) {
        _cleanup_free_ char *p = strdup(path);

        for (unsigned n = 0; p; n++) {
                _cleanup_free_ char *dir = NULL;
                char target[PATH_MAX];
                struct stat st;
                ssize_t k;

                if (n >= 40)
                        return -ELOOP;
                if (lstat(p, &st) < 0) {
                        if (errno == ENOENT)
                                break;
                        return negative_errno();
                }
                if (!S_ISLNK(st.st_mode))
                        break;
                k = readlink(p, target, sizeof target - 1);
                if (k < 0)
                        return negative_errno();
                target[k] = 0;
                dir = target[0] == '/' ? NULL : path_dirname(p);
                free(p);
                if (target[0] == '/')
                        p = strdup(target);
                else if (!dir || asprintf(&p, "%s/%s", dir, target) < 0)
                        p = NULL;
        }
        if (!p)
                return -ENOMEM;
        *ret = TAKE_PTR(p);
        return 0;
}

/* Reads path like the agent does (a regular file, at most 1 MiB), or the
 * example when it does not exist (returns 1 then). */
static int read_or_create(const char *path, char **ret, size_t *ret_len, DiagList *d) {
        int r = envfile_read(path, ret, ret_len, d);

        if (r == -EINVAL)
                return r;
        if (r != -ENOENT)
                return r < 0 ? log_error_errno(r, "Failed to read '%s': %s", path, STRERROR(r)) : 0;
        r = envfile_read(example_path(), ret, ret_len, d);
        if (r == -EINVAL)
                return r;
        if (r < 0)
                return log_error_errno(r, "'%s' does not exist and the example '%s' cannot be read: %s", path,
                                       example_path(), STRERROR(r));
        log_info("'%s' did not exist: creating it from '%s'", path, example_path());
        return 1;
}

static void print_report(const GenSecretsReport *rep, const char *path) {
        for (size_t i = 0; rep->filled[i]; i++)
                printf("filled %s\n", rep->filled[i]);
        for (size_t i = 0; rep->appended[i]; i++)
                printf("appended %s\n", rep->appended[i]);
        for (size_t i = 0; rep->skipped[i]; i++)
                log_warning("%s is a placeholder assigned with += or from a variable: left alone, ignoring",
                            rep->skipped[i]);
        if (!rep->filled[0] && !rep->appended[0])
                printf("nothing to fill: every secret in '%s' is set\n", path);
}

int cli_gen_secrets(CliArgs *a) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(envfile_freep) EnvFile *env = NULL;
        _cleanup_free_ char *target = NULL, *text = NULL, *out = NULL;
        GenSecretsReport rep;
        size_t len = 0;
        int r, created;

        assert(a);

        r = resolve_links(a->values, &target);
        if (r < 0) {
                log_error_errno(r, "Failed to resolve '%s': %s", a->values, STRERROR(r));
                return CLI_EXIT_FAILURE;
        }
        created = read_or_create(target, &text, &len, &d);
        if (created >= 0)
                r = envfile_parse(a->values, text, len, &env, &d);
        diag_list_print(&d, stderr);
        if (created < 0 || r < 0) {
                log_error("%s: not touching a file that does not parse", a->values);
                return CLI_EXIT_FAILURE;
        }
        r = gensecrets_fill(text, len, env, gensecrets_random_hex, NULL, &out, &rep);
        explicit_bzero(text, len);
        if (r < 0) {
                log_error_errno(r, "Failed to generate secrets: %s", STRERROR(r));
                return CLI_EXIT_FAILURE;
        }
        if (rep.filled[0] || rep.appended[0] || created)
                /* New files are group-readable for the agent's group only. */
                r = write_file_atomic(target, out, strlen(out), 0640, WRITE_KEEP_OWNER);
        explicit_bzero(out, strlen(out));
        if (r < 0) {
                log_error_errno(r, "Failed to write '%s': %s", target, STRERROR(r));
                return CLI_EXIT_FAILURE;
        }
        print_report(&rep, a->values);
        return CLI_EXIT_OK;
}
