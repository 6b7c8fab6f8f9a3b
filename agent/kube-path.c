/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where an object lives in the REST API: the kinds the agent knows, their
 * resource names, and the paths of an object or of a collection.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"
#include "util/json.h"

typedef struct KindInfo {
        const char *api_version;
        const char *kind;
        const char *resource;
        bool namespaced;
        bool list_only; /* only its collection is read (following rollouts): never an object to apply */
} KindInfo;

static const KindInfo kinds[] = {
        { "v1", "Namespace", "namespaces", false, false },
        { "v1", "Secret", "secrets", true, false },
        { "v1", "Service", "services", true, false },
        { "v1", "ConfigMap", "configmaps", true, false },
        { "v1", "ServiceAccount", "serviceaccounts", true, false },
        { "apps/v1", "Deployment", "deployments", true, false },
        { "apps/v1", "StatefulSet", "statefulsets", true, false },
        { "apps/v1", "DaemonSet", "daemonsets", true, false },
        { "apps/v1", "ReplicaSet", "replicasets", true, true },
        { "v1", "Pod", "pods", true, true },
        { "coordination.k8s.io/v1", "Lease", "leases", true, false },
};

int kube_ref_from_object(const cJSON *obj, KubeRef *ret) {
        const cJSON *metadata, *ns;
        KubeRef ref;

        assert(obj);
        assert(ret);

        metadata = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        ns = cJSON_GetObjectItemCaseSensitive(metadata, "namespace");
        ref = (KubeRef) {
                .api_version = json_string(obj, "apiVersion"),
                .kind = json_string(obj, "kind"),
                .namespace = cJSON_IsString(ns) ? ns->valuestring : NULL,
                .name = json_string(metadata, "name"),
        };
        if (!ref.api_version || !ref.kind || !ref.name || (ns && !cJSON_IsString(ns) && !cJSON_IsNull(ns)))
                return -EINVAL;
        *ret = ref;
        return 0;
}

/* RFC 1123 subdomain (object names) or label (namespaces). */
static bool valid_name(const char *s, bool label) {
        size_t n = strlen(s);

        if (n == 0 || n > (label ? 63u : 253u))
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
                if (!alnum && (i == 0 || i == n - 1 || !(ch == '-' || (ch == '.' && !label))))
                        return false;
        }
        return true;
}

static const KindInfo *kind_info(const char *api_version, const char *kind) {
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
                if (streq(kinds[i].api_version, api_version) && streq(kinds[i].kind, kind))
                        return &kinds[i];
        return NULL;
}

static const char *api_root(const KindInfo *k) {
        return strchr(k->api_version, '/') ? "apis" : "api";
}

int kube_collection_path(const char *api_version, const char *kind, const char *namespace, char **ret) {
        const KindInfo *k;
        char *p;
        int n;

        assert(api_version);
        assert(kind);
        assert(ret);

        k = kind_info(api_version, kind);
        if (!k)
                return -EOPNOTSUPP;
        if (k->namespaced != !strempty(namespace) || (k->namespaced && !valid_name(namespace, true)))
                return -EINVAL;
        if (k->namespaced)
                n = asprintf(&p, "/%s/%s/namespaces/%s/%s", api_root(k), k->api_version, namespace, k->resource);
        else
                n = asprintf(&p, "/%s/%s/%s", api_root(k), k->api_version, k->resource);
        if (n < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int kube_path(const KubeRef *ref, char **ret) {
        const KindInfo *k;
        char *p;
        int n;

        assert(ref);
        assert(ref->api_version);
        assert(ref->kind);
        assert(ref->name);
        assert(ret);

        k = kind_info(ref->api_version, ref->kind);
        if (!k || k->list_only)
                return -EOPNOTSUPP;
        if (!valid_name(ref->name, false) || (k->namespaced != !strempty(ref->namespace)) ||
            (k->namespaced && !valid_name(ref->namespace, true)))
                return -EINVAL;

        if (k->namespaced)
                n = asprintf(&p, "/%s/%s/namespaces/%s/%s/%s", api_root(k), k->api_version, ref->namespace,
                             k->resource, ref->name);
        else
                n = asprintf(&p, "/%s/%s/%s/%s", api_root(k), k->api_version, k->resource, ref->name);
        if (n < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int kube_ref_path(const KubeRef *ref, char **ret, KubeError *err) {
        int r;

        assert(ref);
        assert(ret);

        r = kube_path(ref, ret);
        if (r == -EOPNOTSUPP)
                return kube_error_setf(err, r, "kind '%s' of apiVersion '%s' is not supported", ref->kind,
                                       ref->api_version);
        if (r == -EINVAL)
                return kube_error_setf(err, r, "%s '%s%s%s': bad name or namespace", ref->kind,
                                       strempty(ref->namespace) ? "" : ref->namespace,
                                       strempty(ref->namespace) ? "" : "/", ref->name);
        return r;
}

/* ---- what a request is about (the daemon's metrics) --------------------------- */

_Static_assert(ELEMENTSOF(kinds) + 1 == KUBE_N_KINDS, "KUBE_N_KINDS: the kinds above and 'other'");

static const char *const verb_names[_KUBE_VERB_MAX] = {
        [KUBE_VERB_GET] = "get",       [KUBE_VERB_LIST] = "list",   [KUBE_VERB_WATCH] = "watch",
        [KUBE_VERB_CREATE] = "create", [KUBE_VERB_UPDATE] = "update", [KUBE_VERB_PATCH] = "patch",
        [KUBE_VERB_APPLY] = "apply",   [KUBE_VERB_DELETE] = "delete", [KUBE_VERB_OTHER] = "other",
};

const char *kube_verb_to_string(KubeVerb v) {
        return v >= 0 && v < _KUBE_VERB_MAX ? verb_names[v] : NULL;
}

const char *kube_kind_at(size_t i) {
        assert(i < KUBE_N_KINDS);
        return i < ELEMENTSOF(kinds) ? kinds[i].kind : "other";
}

void kube_requests_add(KubeRequests *total, const KubeRequests *add) {
        assert(total);
        assert(add);

        for (size_t v = 0; v < _KUBE_VERB_MAX; v++)
                for (size_t k = 0; k < KUBE_N_KINDS; k++)
                        total->n[v][k] += add->n[v][k];
}

/* The kind a REST path names (/api/V/..., /apis/G/V/..., namespaced or
 * not) and whether it names one object; ELEMENTSOF(kinds) ("other") when
 * it names none of ours. */
static size_t path_kind(const char *path, bool *ret_named) {
        char buf[512], api_version[128], *seg[8], *save = NULL;
        size_t n = 0, len = strcspn(path, "?"), rest;
        const char *resource, *name;

        *ret_named = true; /* a path that is no collection (/version): one thing */
        if (len >= sizeof buf)
                return ELEMENTSOF(kinds);
        memcpy(buf, path, len);
        buf[len] = 0;
        for (char *t = strtok_r(buf, "/", &save); t && n < ELEMENTSOF(seg); t = strtok_r(NULL, "/", &save))
                seg[n++] = t;
        if (n >= 3 && streq(seg[0], "api")) {
                snprintf(api_version, sizeof api_version, "%s", seg[1]);
                rest = 2;
        } else if (n >= 4 && streq(seg[0], "apis")) {
                snprintf(api_version, sizeof api_version, "%s/%s", seg[1], seg[2]);
                rest = 3;
        } else
                return ELEMENTSOF(kinds);
        if (n - rest >= 3 && streq(seg[rest], "namespaces"))
                rest += 2; /* namespaces/NS/RESOURCE[/NAME] */
        resource = seg[rest];
        name = rest + 1 < n ? seg[rest + 1] : NULL;
        *ret_named = name != NULL;
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
                if (streq(kinds[i].api_version, api_version) && streq(kinds[i].resource, resource))
                        return i;
        return ELEMENTSOF(kinds);
}

static bool query_has_watch(const char *path) {
        const char *q = strchr(path, '?');

        for (const char *p = q; p; p = strchr(p + 1, '&'))
                if (strneq(p + 1, "watch=1", 7) || strneq(p + 1, "watch=true", 10))
                        return true;
        return false;
}

void kube_request_classify(const char *method, const char *path, bool apply, KubeVerb *ret_verb, size_t *ret_kind) {
        bool named;
        size_t kind;
        KubeVerb v;

        assert(method);
        assert(path);
        assert(ret_verb);
        assert(ret_kind);

        kind = path_kind(path, &named);
        if (streq(method, "GET"))
                v = query_has_watch(path) ? KUBE_VERB_WATCH : named ? KUBE_VERB_GET : KUBE_VERB_LIST;
        else if (streq(method, "POST"))
                v = KUBE_VERB_CREATE;
        else if (streq(method, "PUT"))
                v = KUBE_VERB_UPDATE;
        else if (streq(method, "PATCH"))
                v = apply ? KUBE_VERB_APPLY : KUBE_VERB_PATCH;
        else if (streq(method, "DELETE"))
                v = KUBE_VERB_DELETE;
        else
                v = KUBE_VERB_OTHER;
        *ret_verb = v;
        *ret_kind = kind;
}
