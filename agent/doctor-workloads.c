/* SPDX-License-Identifier: Apache-2.0 */
/*
 * doctor's checks of what runs: each module's workload judged as a
 * rollout (rollout.c: available, rolling out, failing and why), the TURN
 * relay (its pod and a STUN Binding request to TURN_HOST:TURN_PORT), and
 * the OpenSandbox installation the sandbox needs (its Service, pods and
 * pod-template ConfigMap).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-check.h"
#include "doctor-internal.h"
#include "rollout.h"
#include "util/json.h"
#include "util/log.h"

/* ---- 5 and 6. TURN and OpenSandbox --------------------------------------- */

/* How many of pods are Ready. */
static unsigned ready_pods(const cJSON *pods) {
        const cJSON *pod, *cond;
        unsigned n = 0;

        cJSON_ArrayForEach(pod, pods)
                cJSON_ArrayForEach(cond, JSON_GET(pod, "status", "conditions")) {
                        const char *t = json_string(cond, "type"), *st = json_string(cond, "status");
                        if (t && st && streq(t, "Ready") && streq(st, "True"))
                                n++;
                }
        return n;
}

/* The items of a list at path (with query), or NULL with err set. */
static cJSON *list_items(DoctorCtx *ctx, const char *path, const char *query, KubeError *err) {
        _cleanup_free_ char *url = NULL;
        cJSON *list = NULL, *items;

        if (asprintf(&url, "%s?%s", path, query) < 0 || kube_get_path(ctx->kube, url, &list, err) < 0)
                return NULL;
        items = cJSON_DetachItemFromObjectCaseSensitive(list, "items");
        cJSON_Delete(list);
        return items ? items : cJSON_CreateArray();
}

/* The rollout health of a workload of the agent's, read once (the
 * workload, its ReplicaSets, its Pods), as rollout.c judges it for the
 * daemon. */
static int assess_workload(DoctorCtx *ctx, const char *kind, const char *name, RolloutAssessment *ret, KubeError *err) {
        _cleanup_free_ char *rs_path = NULL, *pod_path = NULL, *query = NULL;
        _cleanup_(cJSON_Deletep) cJSON *w = NULL, *rss = NULL, *pods = NULL;
        const char *ns = doctor_cget(ctx, "NAMESPACE");
        KubeRef ref = { "apps/v1", kind, ns, name };
        int r;

        r = kube_get(ctx->kube, &ref, &w, err);
        if (r == -ENOENT)
                return rollout_assess(kind, NULL, NULL, NULL, ret);
        if (r < 0)
                return r;
        if (rollout_selector_query(w, &query) < 0)
                return kube_error_setf(err, -EINVAL, "it has no spec.selector.matchLabels to find its pods by");
        if (kube_collection_path("apps/v1", "ReplicaSet", ns, &rs_path) < 0 ||
            kube_collection_path("v1", "Pod", ns, &pod_path) < 0)
                return kube_error_setf(err, -EINVAL, "bad namespace '%s'", ns);
        if ((streq(kind, "Deployment") && !(rss = list_items(ctx, rs_path, query, err))) ||
            !(pods = list_items(ctx, pod_path, query, err)))
                return -EIO;
        return rollout_assess(kind, w, rss, pods, ret);
}

/* id: ok when the workload is available, warn while it rolls out, fail
 * when it fails (what then shows in the UI: no video, a sandbox that never
 * starts), with the reason and the pod. */
static void check_workload(DoctorCtx *ctx, const char *id, const char *kind, const char *name, const char *effect) {
        _cleanup_free_ char *fix = NULL;
        RolloutAssessment a;
        KubeError err = { 0 };

        if (!ctx->kube) {
                doctor_add(ctx, DOCTOR_SKIP, id, NULL, "not checked: the API server is not reachable");
                return;
        }
        if (asprintf(&fix, "kubectl -n %s describe pod -l app=%s", doctor_cget(ctx, "NAMESPACE"), name) < 0)
                fix = NULL;
        if (assess_workload(ctx, kind, name, &a, &err) < 0)
                doctor_add(ctx, DOCTOR_FAIL, id, NULL, "cannot read %s '%s': %s", kind, name, err.message);
        else if (a.health == ROLLOUT_AVAILABLE)
                doctor_add(ctx, DOCTOR_OK, id, NULL, "%s '%s' is available: %s", kind, name, a.message);
        else if (a.health == ROLLOUT_FAILING && streq(a.reason, "NotFound"))
                doctor_add(ctx, DOCTOR_FAIL, id, "nap-agent apply --resync", "%s '%s' does not exist: %s", kind, name,
                           effect);
        else if (a.health == ROLLOUT_FAILING)
                doctor_add(ctx, DOCTOR_FAIL, id, fix, "%s '%s' is failing: %s: %s", kind, name, a.message, effect);
        else
                doctor_add(ctx, DOCTOR_WARN, id, fix, "%s '%s' is rolling out: %s", kind, name, a.message);
}

void doctor_check_turn(DoctorCtx *ctx) {
        const char *host;
        unsigned port;
        int r;

        assert(ctx);
        assert(ctx->config);

        host = doctor_cget(ctx, "TURN_HOST");
        port = (unsigned) strtoul(doctor_cget(ctx, "TURN_PORT"), NULL, 10);
        if (!config_module_enabled(ctx->config, MODULE_BROWSER))
                return;
        if (!*host) {
                doctor_add(ctx, DOCTOR_FAIL, "turn.host", "set TURN_HOST=<node IP> in values.env",
                           "TURN_HOST is empty: browsers get no video");
                return;
        }
        bool ip = is_ip_address(host);
        if (!ip)
                doctor_add(ctx, DOCTOR_WARN, "turn.host", "set TURN_HOST to the node's IP address",
                           "TURN_HOST=%s is not an IP address", host);
        else
                doctor_add(ctx, DOCTOR_OK, "turn.host", NULL, "TURN_HOST=%s is an IP address", host);
        check_workload(ctx, "turn.pod", "Deployment", "coturn", "browsers get no video");
        if (!ip) {
                /* Never resolve a name here: the probe goes only to the configured address. */
                doctor_add(ctx, DOCTOR_SKIP, "turn.stun", NULL, "not probed: TURN_HOST is not an IP address");
                return;
        }
        _cleanup_free_ char *mapped = NULL;
        r = doctor_stun_ping(host, port, ctx->opts->stun_timeout_usec, &mapped);
        if (r < 0)
                doctor_add(ctx, DOCTOR_FAIL, "turn.stun",
                           "check that coturn runs and that UDP to TURN_HOST:TURN_PORT is open",
                           "no STUN answer from %s:%u (%s): browsers will show a black screen", host, port,
                           STRERROR(r));
        else
                doctor_add(ctx, DOCTOR_OK, "turn.stun", NULL, "STUN Binding answered by %s:%u%s%s", host, port,
                           mapped ? ", mapped address " : "", mapped ? mapped : "");
}

/* The services' own Deployments, judged as the daemon judges a rollout. */
void doctor_check_services(DoctorCtx *ctx) {
        _cleanup_free_ char *sandbox = NULL, *browser = NULL;

        assert(ctx);
        assert(ctx->config);

        if (asprintf(&sandbox, "%s-sandbox", doctor_cget(ctx, "APP_PREFIX")) < 0 ||
            asprintf(&browser, "%s-browser", doctor_cget(ctx, "APP_PREFIX")) < 0) {
                ctx->error = -ENOMEM;
                return;
        }
        if (config_module_enabled(ctx->config, MODULE_SANDBOX))
                check_workload(ctx, "sandbox.pod", "Deployment", sandbox, "the Code Sandbox does not start");
        if (config_module_enabled(ctx->config, MODULE_BROWSER))
                check_workload(ctx, "browser.pod", "Deployment", browser, "the Remote Browser does not start");
}

#define OSB_TEMPLATE "opensandbox-sandbox-template"
#define OSB_TEMPLATE_KEY "sandbox-template.yaml"

/* OPENSANDBOX_URL's host as a cluster Service, NAME.NS.svc[.cluster.local]:
 * its name into svc; false for another host (not checked from the cluster). */
static bool url_service(const char *url, char svc[64]) {
        const char *h = strstr(url, "://") + 3;
        size_t n = strcspn(h, ".:/");

        if (n == 0 || n >= 64 || h[n] != '.' || !strstr(h, ".svc"))
                return false;
        memcpy(svc, h, n);
        svc[n] = 0;
        return true;
}

/* Whether a pod mounts the ConfigMap name (a volume of it). */
static bool pod_mounts(const cJSON *pod, const char *name) {
        const cJSON *v;

        cJSON_ArrayForEach(v, JSON_GET(pod, "spec", "volumes")) {
                const char *cm = json_string(JSON_GET(v, "configMap"), "name");
                if (cm && streq(cm, name))
                        return true;
        }
        return false;
}

/* The platform's README: `kubectl -n NS create configmap
 * opensandbox-sandbox-template --from-file=sandbox-template.yaml=...`,
 * mounted on opensandbox-server (or baked into its values: a warning). */
static void check_opensandbox_template(DoctorCtx *ctx, const char *ns, const cJSON *pods) {
        _cleanup_free_ char *fix = NULL;
        _cleanup_(cJSON_Deletep) cJSON *cm = NULL;
        KubeRef ref = { "v1", "ConfigMap", ns, OSB_TEMPLATE };
        KubeError err = { 0 };
        const cJSON *pod;
        bool mounted = false;
        int r;

        if (asprintf(&fix, "kubectl -n %s create configmap " OSB_TEMPLATE " --from-file=" OSB_TEMPLATE_KEY
                     "=optional/sandbox/batchsandbox-template.yaml, mounted on opensandbox-server", ns) < 0)
                fix = NULL;
        r = kube_get(ctx->kube, &ref, &cm, &err);
        if (r == -ENOENT) {
                doctor_add(
                        ctx, DOCTOR_WARN, "opensandbox.template", fix,
                        "no ConfigMap '" OSB_TEMPLATE "' in '%s': unless "
                        "the template is baked into OpenSandbox's values, sandboxes do not start the way NAP expects",
                        ns);
                return;
        }
        if (r < 0) {
                doctor_add(ctx, DOCTOR_FAIL, "opensandbox.template", NULL,
                           "cannot read ConfigMap '" OSB_TEMPLATE "': %s", err.message);
                return;
        }
        if (!json_string(JSON_GET(cm, "data"), OSB_TEMPLATE_KEY)) {
                doctor_add(ctx, DOCTOR_FAIL, "opensandbox.template", fix,
                           "ConfigMap '" OSB_TEMPLATE "' in '%s' has no key '" OSB_TEMPLATE_KEY "'", ns);
                return;
        }
        cJSON_ArrayForEach(pod, pods)
                mounted = mounted || pod_mounts(pod, OSB_TEMPLATE);
        if (!mounted && cJSON_GetArraySize(pods) > 0)
                doctor_add(ctx, DOCTOR_WARN, "opensandbox.template", fix,
                           "ConfigMap '" OSB_TEMPLATE "' exists in '%s' but no OpenSandbox pod mounts it",
                           ns);
        else
                doctor_add(ctx, DOCTOR_OK, "opensandbox.template", NULL, "ConfigMap '" OSB_TEMPLATE "' is in '%s'%s",
                           ns, mounted ? " and mounted" : "");
}

/* OpenSandbox present: its pods, or at least the Service OPENSANDBOX_URL
 * names (it may label its pods otherwise). */
static void check_opensandbox_present(DoctorCtx *ctx, const char *url, const char *ns) {
        _cleanup_free_ char *path = NULL;
        _cleanup_(cJSON_Deletep) cJSON *pods = NULL, *svc = NULL;
        KubeError err = { 0 };
        char name[64];
        bool cluster_svc = url_service(url, name);
        int r = -ENOENT;

        if (cluster_svc) {
                KubeRef ref = { "v1", "Service", ns, name };
                r = kube_get(ctx->kube, &ref, &svc, &err);
                if (r == -ENOENT)
                        doctor_add(ctx, DOCTOR_FAIL, "opensandbox.service",
                                   "install OpenSandbox (its Helm chart), or set OPENSANDBOX_URL",
                                   "no Service '%s' in '%s': OPENSANDBOX_URL does not resolve in the cluster", name,
                                   ns);
                else if (r < 0)
                        doctor_add(ctx, DOCTOR_FAIL, "opensandbox.service", NULL, "cannot read Service '%s': %s", name,
                                   err.message);
                else
                        doctor_add(ctx, DOCTOR_OK, "opensandbox.service", NULL,
                                   "Service '%s' in '%s' exists: OPENSANDBOX_URL resolves in the cluster",
                                   name, ns);
        } else
                doctor_add(ctx, DOCTOR_SKIP, "opensandbox.service", NULL,
                           "not checked: OPENSANDBOX_URL does not name a cluster Service (NAME.NAMESPACE.svc)");
        if (kube_collection_path("v1", "Pod", ns, &path) < 0 ||
            !(pods = list_items(ctx, path, "labelSelector=app.kubernetes.io%2Fname%3Dopensandbox", &err)))
                doctor_add(ctx, DOCTOR_FAIL, "opensandbox.pods", NULL, "cannot list pods in '%s': %s", ns, err.message);
        else if (cJSON_GetArraySize(pods) == 0 && r >= 0)
                doctor_add(ctx, DOCTOR_WARN, "opensandbox.pods", NULL,
                           "no pods labelled app.kubernetes.io/name=opensandbox "
                           "in '%s', but Service '%s' exists (OpenSandbox may label its pods otherwise)",
                           ns, name);
        else if (cJSON_GetArraySize(pods) == 0)
                doctor_add(ctx, DOCTOR_FAIL, "opensandbox.pods",
                           "install OpenSandbox into that namespace (its Helm chart)",
                           "no OpenSandbox pods (app.kubernetes.io/name=opensandbox) in namespace '%s': sandboxes "
                           "cannot start",
                           ns);
        else
                doctor_add(ctx, DOCTOR_OK, "opensandbox.pods", NULL, "%d OpenSandbox pod(s) in '%s', %u ready",
                           cJSON_GetArraySize(pods), ns, ready_pods(pods));
        check_opensandbox_template(ctx, ns, pods);
}

void doctor_check_opensandbox(DoctorCtx *ctx) {
        const char *url;
        char ns[64];

        assert(ctx);
        assert(ctx->config);

        url = doctor_cget(ctx, "OPENSANDBOX_URL");
        if (!config_module_enabled(ctx->config, MODULE_SANDBOX))
                return;
        if (!is_http_url(url)) {
                doctor_add(ctx, DOCTOR_FAIL, "opensandbox.url",
                           "set OPENSANDBOX_URL=http://opensandbox-server.NS.svc:80",
                           "OPENSANDBOX_URL=\"%s\" is not an http(s) URL", url);
                return;
        }
        /* http://NAME.NS.svc[...]: the namespace is the host's second label. */
        const char *h = strstr(url, "://") + 3, *dot = strchr(h, '.');
        size_t n = dot ? strcspn(dot + 1, ".:/") : 0;
        if (dot && n > 0 && n < sizeof ns) {
                memcpy(ns, dot + 1, n);
                ns[n] = 0;
        } else
                snprintf(ns, sizeof ns, "%s", doctor_cget(ctx, "NAMESPACE"));
        doctor_add(ctx, DOCTOR_OK, "opensandbox.url", NULL,
                   "OPENSANDBOX_URL parses; OpenSandbox expected in namespace '%s'", ns);
        if (!ctx->kube) {
                static const char *const ids[] = { "opensandbox.service", "opensandbox.pods", "opensandbox.template" };
                for (size_t i = 0; i < ELEMENTSOF(ids); i++)
                        doctor_add(ctx, DOCTOR_SKIP, ids[i], NULL, "not checked: the API server is not reachable");
                return;
        }
        check_opensandbox_present(ctx, url, ns);
}

