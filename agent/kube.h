/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes client: the stage that turns desired objects into
 * server-side applies and deletes against the kube-apiserver (DESIGN.md §5).
 *
 * One CURL easy handle per client, reused for every request, so a pass over
 * N objects costs N requests on one keep-alive connection. A normal apply is
 * exactly one PATCH; only adoption (KUBE_APPLY_ADOPT) reads first. Failures
 * come back as a negative errno plus one human line in a KubeError, built
 * from the server's Status message; this module never logs above debug and
 * never puts a token or key into an error or a log line.
 *
 * Retries: connection errors, timeouts, 429 and 5xx, with capped exponential
 * backoff and jitter, honouring Retry-After, within a total deadline per call.
 */
#pragma once

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "util/macro.h"

/* The human detail of the last failure: one line, safe to log. */
typedef struct KubeError {
        long http_status; /* 0 when no HTTP answer was received */
        char reason[64];  /* the Status reason ("Invalid", "NotFound"...), or "" */
        char message[512];
} KubeError;

void kube_error_clear(KubeError *err);
/* Sets err (when not NULL) to a message without HTTP status; returns error
 * (a negative errno), so that `return kube_error_setf(err, -EINVAL, ...)`. */
int kube_error_setf(KubeError *err, int error, const char *format, ...) _printf_(3, 4);

typedef struct KubeClientOptions {
        unsigned request_timeout_ms; /* one attempt; 0: 10000 */
        unsigned connect_timeout_ms; /* 0: 5000 */
        unsigned deadline_ms;        /* one call, retries included; 0: 30000 */
        unsigned backoff_initial_ms; /* 0: 200 */
        unsigned backoff_max_ms;     /* 0: 5000 */
        /* Polled between retries (every 50 ms while waiting) and by curl during
         * a transfer (about once a second while no data flows); returning true
         * makes the call fail with -ECANCELED (for SIGTERM). */
        bool (*cancelled)(void *userdata);
        void *userdata;
} KubeClientOptions;

typedef struct KubeClient KubeClient;

/* Loads the kubeconfig at kubeconfig_path (see kubeconfig.h) and prepares a
 * connection; nothing is sent yet. opts may be NULL for the defaults. */
int kube_client_new(const char *kubeconfig_path, const KubeClientOptions *opts, KubeClient **ret, KubeError *err);
KubeClient *kube_client_free(KubeClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(KubeClient *, kube_client_free);

/* The server URL, e.g. "https://127.0.0.1:6443" (owned by c). */
const char *kube_client_server(const KubeClient *c);

typedef struct KubeStats {
        unsigned long requests;    /* HTTP requests sent, retries included */
        unsigned long connections; /* new connections opened */
} KubeStats;
void kube_client_stats(const KubeClient *c, KubeStats *ret);

/* Names one object. The strings are borrowed (from a cJSON object or the
 * caller); namespace is NULL for cluster-scoped kinds. */
typedef struct KubeRef {
        const char *api_version;
        const char *kind;
        const char *namespace;
        const char *name;
} KubeRef;

/* Points ret's strings into obj (apiVersion, kind, metadata.namespace,
 * metadata.name). -EINVAL when one of them is missing or not a string. */
int kube_ref_from_object(const cJSON *obj, KubeRef *ret);

/* The REST path of ref, e.g. "/api/v1/namespaces/ns/services/name" or
 * "/apis/apps/v1/namespaces/ns/deployments/name". Known kinds: Namespace,
 * Secret, Service, ConfigMap, ServiceAccount (v1), Deployment, StatefulSet,
 * DaemonSet (apps/v1), Lease (coordination.k8s.io/v1). -EOPNOTSUPP for any
 * other kind, -EINVAL for a bad name or a namespace where none belongs (or
 * none where one must). */
int kube_path(const KubeRef *ref, char **ret);

enum {
        KUBE_APPLY_DRY_RUN = 1u << 0, /* dryRun=All: validated, nothing persisted */
        KUBE_APPLY_ADOPT = 1u << 1,   /* take fields over from other appliers first */
};

typedef struct KubeApplyResult {
        char *resource_version; /* after the apply; NULL after a dry run that would create */
        bool created;           /* 201 */
        bool changed;           /* created, or resourceVersion differs from the one passed in */
        bool adopted;           /* fields of other managers (kubectl...) were taken over */
        cJSON *live;            /* the object as the server returned it */
} KubeApplyResult;

void kube_apply_result_clear(KubeApplyResult *r);

/* Server-side apply of obj (PATCH, application/apply-patch+yaml,
 * fieldManager=nap-agent, force=true). last_resource_version is what the
 * caller saw after its previous apply (NULL: unknown, then a 200 counts as
 * changed). Without KUBE_APPLY_ADOPT this is exactly one request.
 *
 * With KUBE_APPLY_ADOPT (for an object the caller does not know yet): GET it
 * (missing: a plain create); if managers named kubectl, kubectl-* or
 * before-first-apply own fields, or the last-applied-configuration annotation
 * is present, rewrite metadata.managedFields so that their entries become one
 * nap-agent Apply entry and drop the annotation (one merge PATCH, guarded by
 * the resourceVersion just read), then apply. nap-agent is then the only
 * owner of those fields, so a later apply without a field removes it; the
 * fields of controllers (other managers) are left alone. Under DRY_RUN the
 * rewrite is not sent, only reported in adopted.
 *
 * *ret is written only on success; free with kube_apply_result_clear(). */
int kube_apply(KubeClient *c, const cJSON *obj, const char *last_resource_version, unsigned flags,
               KubeApplyResult *ret, KubeError *err);

/* DELETE with propagationPolicy=Background. A 404 is success with
 * *ret_existed = false. ret_existed may be NULL. */
int kube_delete(KubeClient *c, const KubeRef *ref, bool *ret_existed, KubeError *err);

/* GET; -ENOENT (and err set) when the object does not exist. */
int kube_get(KubeClient *c, const KubeRef *ref, cJSON **ret, KubeError *err);

/* GET of any API path (with its query, e.g. a pod list with a label
 * selector): the JSON object answered. -ENOENT on 404. */
int kube_get_path(KubeClient *c, const char *path, cJSON **ret, KubeError *err);
/* POST of body (JSON) to path, e.g. a SelfSubjectAccessReview: the JSON
 * object answered (200 or 201). */
int kube_create_path(KubeClient *c, const char *path, const cJSON *body, cJSON **ret, KubeError *err);

/* Exposed for tests: the one-line message for an HTTP error answer (a
 * Status body, other JSON, text or nothing), into err; returns the errno. */
int kube_error_from_response(long http_status, const char *body, KubeError *err);
