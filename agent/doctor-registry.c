/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `doctor`'s registry login checks: the pull Secret IMAGE_PULL_SECRET names
 * exists (without it every pod that pulls with it stays in
 * ImagePullBackOff, whoever was to make it), is a docker-registry Secret,
 * and the ServiceAccount the module pods run as lists it.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor-internal.h"
#include "util/json.h"

static void check_pull_secret(DoctorCtx *ctx, const char *ns, const char *name) {
        _cleanup_(cJSON_Deletep) cJSON *s = NULL;
        _cleanup_free_ char *fix = NULL;
        KubeRef ref = { "v1", "Secret", ns, name };
        KubeError err = { 0 };
        const char *type;
        int r;

        r = kube_get(ctx->kube, &ref, &s, &err);
        if (r == -ENOENT) {
                if (asprintf(&fix, "set REGISTRY_SERVER, REGISTRY_USERNAME and REGISTRY_PASSWORD in values.env (nap-agent "
                             "makes it), or: kubectl -n %s create secret docker-registry %s --docker-server=... "
                             "--docker-username=... --docker-password=...", ns, name) < 0)
                        fix = NULL;
                doctor_add(ctx, DOCTOR_FAIL, "registry.pull_secret", fix,
                           "Secret '%s' (IMAGE_PULL_SECRET) does not exist in namespace '%s': pods that pull with it "
                           "stay in ImagePullBackOff", name, ns);
                return;
        }
        if (r < 0) {
                doctor_add(ctx, DOCTOR_FAIL, "registry.pull_secret", NULL, "cannot read Secret '%s': %s", name,
                           err.message);
                return;
        }
        type = json_string(s, "type");
        if (!type || !streq(type, "kubernetes.io/dockerconfigjson"))
                doctor_add(ctx, DOCTOR_WARN, "registry.pull_secret", NULL,
                           "Secret '%s' is of type '%s', not kubernetes.io/dockerconfigjson: the kubelet may not "
                           "use it to pull", name, type ? type : "?");
        else
                doctor_add(ctx, DOCTOR_OK, "registry.pull_secret", NULL, "Secret '%s' exists (%s)", name, type);
}

static void check_service_account(DoctorCtx *ctx, const char *ns, const char *name) {
        _cleanup_(cJSON_Deletep) cJSON *sa = NULL;
        KubeRef ref = { "v1", "ServiceAccount", ns, "default" };
        KubeError err = { 0 };
        const cJSON *e;
        int r;

        r = kube_get(ctx->kube, &ref, &sa, &err);
        if (r < 0) {
                doctor_add(ctx, r == -ENOENT ? DOCTOR_WARN : DOCTOR_FAIL, "registry.serviceaccount", NULL,
                           "cannot read ServiceAccount 'default' of namespace '%s': %s", ns, err.message);
                return;
        }
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(sa, "imagePullSecrets")) {
                const char *n = json_string(e, "name");
                if (n && streq(n, name)) {
                        doctor_add(ctx, DOCTOR_OK, "registry.serviceaccount", NULL,
                                   "ServiceAccount 'default' pulls with '%s'", name);
                        return;
                }
        }
        doctor_add(ctx, DOCTOR_WARN, "registry.serviceaccount", "nap-agent apply",
                   "ServiceAccount 'default' does not list '%s' in its imagePullSecrets: the sandbox and browser "
                   "pods pull without it", name);
}

void doctor_check_registry(DoctorCtx *ctx) {
        const char *name, *ns;

        assert(ctx);
        assert(ctx->config);

        name = doctor_cget(ctx, "IMAGE_PULL_SECRET");
        ns = doctor_cget(ctx, "NAMESPACE");
        if (!*name)
                return; /* no pull secret: nothing to check */
        if (!ctx->kube) {
                doctor_add(ctx, DOCTOR_SKIP, "registry.pull_secret", NULL, "not checked: the API server is not reachable");
                return;
        }
        check_pull_secret(ctx, ns, name);
        check_service_account(ctx, ns, name);
}
