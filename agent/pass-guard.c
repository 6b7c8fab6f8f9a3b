/* SPDX-License-Identifier: Apache-2.0 */
/*
 * install.sh's second APP_PREFIX guard (PASS_GUARDING), checked live: a
 * namespace that already holds an installation of the platform under
 * another prefix (a Deployment named `<other>-cp`) is refused, since
 * applying there would start a second, empty `${APP_PREFIX}-*` stack beside
 * the real one. `plan --live` checks it synchronously; a pass (`apply`, the
 * daemon) lists the Deployments on its loop and hands the answer here. The
 * verdict is remembered for the kubeconfig, NAMESPACE and APP_PREFIX it was
 * reached for, so the daemon lists again only when one of them changes, on
 * a resync, or after SIGHUP.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pass-internal.h"
#include "util/json.h"
#include "util/log.h"

#define CP_SUFFIX "-cp"

/* What the verdict is remembered for. */
static char *guard_key(Manager *m, const Config *c) {
        _cleanup_free_ char *kubeconfig = NULL;
        char *s;

        if (manager_kubeconfig_path(m, c, &kubeconfig) < 0)
                return NULL;
        if (asprintf(&s, "%s\n%s\n%s", kubeconfig, config_get(c, "NAMESPACE"), config_get(c, "APP_PREFIX")) < 0)
                return NULL;
        return s;
}

/* Whether to look (again: always). */
static bool guard_needed(Manager *m, const PassCache *cache, const Config *c, bool again) {
        _cleanup_free_ char *key = NULL;

        if (again || !cache->guard_passed)
                return true;
        key = guard_key(m, c);
        return !key || !streq(key, cache->guard_passed);
}

static int guard_path(const Config *c, char **ret) {
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

/* The answer of the list: 0, or a negative errno it logged (-EEXIST:
 * another prefix). */
static int guard_verdict(Manager *m, PassCache *cache, const Config *c, int r, const cJSON *list,
                         const KubeError *err) {
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
        free(cache->guard_passed);
        cache->guard_passed = guard_key(m, c); /* NULL only costs a list next time */
        return 0;
}

int pass_guard_check(Manager *m, PassCache *cache, const Config *c) {
        _cleanup_(cJSON_Deletep) cJSON *list = NULL;
        _cleanup_free_ char *path = NULL;
        KubeError err = { 0 };
        KubeClient *k;
        int r;

        assert(m);
        assert(cache);
        assert(c);

        r = manager_kube(m, c, &k);
        if (r < 0)
                return r; /* logged */
        if (!guard_needed(m, cache, c, false))
                return 0;
        r = guard_path(c, &path);
        if (r < 0)
                return manager_fail(m, r, "Failed to list the Deployments of namespace '%s': %s",
                                    config_get(c, "NAMESPACE"), STRERROR(r));
        r = kube_get_path(k, path, &list, &err);
        return guard_verdict(m, cache, c, r, list, &err);
}

static void on_guard_list(int r, cJSON *list, const KubeError *err, void *userdata) {
        Pass *p = userdata;

        p->guard.op = NULL;
        r = guard_verdict(p->m, p->cache, p->config, r, list, err);
        cJSON_Delete(list);
        pass_guard_done(p, r);
}

/* Whether the pass is going to write anything: a pass that is not (a
 * converged `apply`) has nothing to guard and makes no request. */
static bool pass_writes(const Pass *p) {
        for (size_t i = 0; i < p->plan->n_actions; i++)
                if (pass_objects_relevant(p, &p->plan->actions[i]) || pass_clients_relevant(p, &p->plan->actions[i]))
                        return true;
        return false;
}

/* Listed before the first write for a kubeconfig, NAMESPACE and
 * APP_PREFIX, and again on a resync. `seed` writes only rows, into the
 * database DATABASE_URL names or ${APP_PREFIX}-pg-rw's: no stack to start,
 * and no API server needed with DATABASE_URL. */
int pass_guard_start(Pass *p) {
        _cleanup_free_ char *path = NULL;
        KubeClient *k;
        int r;

        assert(p);

        if ((p->opts.flags & PASS_CLIENTS_ONLY) || !pass_writes(p))
                return 1;
        r = manager_kube(p->m, p->config, &k);
        if (r < 0)
                return r; /* logged */
        if (!guard_needed(p->m, p->cache, p->config, p->opts.flags & PASS_RESYNC))
                return 1;
        r = guard_path(p->config, &path);
        if (r >= 0)
                r = kube_get_start(k, path, on_guard_list, p, &p->guard.op);
        if (r < 0)
                return manager_fail(p->m, r, "Failed to list the Deployments of namespace '%s': %s",
                                    config_get(p->config, "NAMESPACE"), STRERROR(r));
        return 0;
}

void pass_guard_cancel(Pass *p) {
        assert(p);

        kube_op_cancel(p->guard.op);
        p->guard.op = NULL;
}
