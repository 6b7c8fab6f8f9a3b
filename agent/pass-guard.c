/* SPDX-License-Identifier: Apache-2.0 */
/*
 * install.sh's second APP_PREFIX guard (UPSTREAM.md §1), checked live: a
 * namespace that already holds an installation of the platform under
 * another prefix (a Deployment named `<other>-cp`) is refused, since
 * applying there would start a second, empty `${APP_PREFIX}-*` stack beside
 * the real one. `plan --live` checks it synchronously; a pass (`apply`, the
 * daemon) lists the Deployments on its loop and hands the answer here. The
 * verdict is remembered for the kubeconfig, NAMESPACE and APP_PREFIX it was
 * reached for, so the daemon lists again only when one of them changes, on
 * a resync, or after SIGHUP.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager.h"
#include "util/json.h"
#include "util/log.h"

#define CP_SUFFIX "-cp"

/* What the verdict is remembered for. */
static char *guard_key(const Manager *m, const Config *c) {
        char *s;

        if (asprintf(&s, "%s\n%s\n%s", strna(m->kube_path), config_get(c, "NAMESPACE"), config_get(c, "APP_PREFIX")) <
            0)
                return NULL;
        return s;
}

bool manager_guard_needed(const Manager *m, const Config *c, bool again) {
        _cleanup_free_ char *key = NULL;

        if (again || !m->guard_passed)
                return true;
        key = guard_key(m, c);
        return !key || !streq(key, m->guard_passed);
}

int manager_guard_path(const Config *c, char **ret) {
        return kube_collection_path("apps/v1", "Deployment", config_get(c, "NAMESPACE"), ret);
}

/* The prefix of the first Deployment named <prefix>-cp in list, by name as
 * kubectl sorts them; NULL when there is none, or when the one of our own
 * prefix is among them (that installation is ours: nothing to protect). */
static char *other_prefix(const cJSON *list, const char *prefix) {
        const char *first = NULL;
        const cJSON *item;

        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(list, "items")) {
                const char *name = json_string(JSON_GET(item, "metadata"), "name");
                size_t n = name ? strlen(name) : 0;
                if (n <= strlen(CP_SUFFIX) || !streq(name + n - strlen(CP_SUFFIX), CP_SUFFIX))
                        continue;
                if (n - strlen(CP_SUFFIX) == strlen(prefix) && strncmp(name, prefix, strlen(prefix)) == 0)
                        return NULL;
                if (!first || strcmp(name, first) < 0)
                        first = name;
        }
        return first ? strndup(first, strlen(first) - strlen(CP_SUFFIX)) : NULL;
}

int manager_guard_verdict(Manager *m, const Config *c, int r, const cJSON *list, const KubeError *err) {
        const char *ns = config_get(c, "NAMESPACE"), *prefix = config_get(c, "APP_PREFIX");
        _cleanup_free_ char *other = NULL;

        if (r < 0)
                return manager_fail(m, r,
                                    "Failed to list the Deployments of namespace '%s' (to check that no other "
                                    "APP_PREFIX is installed there): %s",
                                    ns, err ? err->message : STRERROR(r));
        other = other_prefix(list, prefix);
        if (other)
                return manager_fail(m, EEXIST,
                                    "Namespace '%s' holds an installation under APP_PREFIX '%s' (Deployment "
                                    "'%s-cp'), not '%s': applying would start a second, empty '%s-*' stack beside it. "
                                    "Set APP_PREFIX=%s in values.env to manage that installation (or choose another "
                                    "NAMESPACE); nothing applied",
                                    ns, other, other, prefix, prefix, other);
        free(m->guard_passed);
        m->guard_passed = guard_key(m, c); /* NULL only costs a list next time */
        return 0;
}

int manager_guard(Manager *m, const Config *c) {
        _cleanup_(cJSON_Deletep) cJSON *list = NULL;
        _cleanup_free_ char *path = NULL;
        KubeError err = { 0 };
        KubeClient *k;
        int r;

        r = manager_kube(m, c, &k);
        if (r < 0)
                return r; /* logged */
        if (!manager_guard_needed(m, c, false))
                return 0;
        r = manager_guard_path(c, &path);
        if (r < 0)
                return manager_fail(m, r, "Failed to list the Deployments of namespace '%s': %s",
                                    config_get(c, "NAMESPACE"), STRERROR(r));
        r = kube_get_path(k, path, &list, &err);
        return manager_guard_verdict(m, c, r, list, &err);
}
