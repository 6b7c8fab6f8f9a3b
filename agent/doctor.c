/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-check.h"
#include "doctor.h"
#include "rollout.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strbuf.h"

typedef struct Ctx {
        Manager *m;
        const DoctorOptions *opts;
        DoctorReport *report;
        Config *config;
        DesiredSet *desired;
        KubeClient *kube; /* NULL when unreachable */
        OAuthDb *db;      /* NULL when unreachable */
        int error;        /* -ENOMEM seen */
} Ctx;

static void add(Ctx *ctx, DoctorStatus st, const char *id, const char *fix, const char *format, ...) _printf_(5, 6);
static void add(Ctx *ctx, DoctorStatus st, const char *id, const char *fix, const char *format, ...) {
        DoctorReport *r = ctx->report;
        DoctorCheck *c = realloc(r->checks, (r->n_checks + 1) * sizeof *c);
        va_list ap;

        if (!c) {
                ctx->error = -ENOMEM;
                return;
        }
        r->checks = c;
        c = &r->checks[r->n_checks];
        *c = (DoctorCheck) { .status = st, .id = strdup(id), .fix = fix ? strdup(fix) : NULL };
        va_start(ap, format);
        if (vasprintf(&c->summary, format, ap) < 0)
                c->summary = NULL;
        va_end(ap);
        if (!c->id || !c->summary || (fix && !c->fix)) {
                ctx->error = -ENOMEM;
                free(c->id);
                free(c->summary);
                free(c->fix);
                return;
        }
        r->n_checks++;
}

static const char *cget(Ctx *ctx, const char *name) {
        const char *v = config_get(ctx->config, name);
        return v ? v : "";
}

/* ---- 1. values.env ------------------------------------------------------ */

static void check_values(Ctx *ctx) {
        const char *path = ctx->m->options.values_path;
        _cleanup_free_ char *why = NULL;
        struct stat st;
        int r;

        r = manager_load_desired(ctx->m, &ctx->config, &ctx->desired, &why);
        if (r < 0) {
                _cleanup_free_ char *fix = NULL;
                if (asprintf(&fix, "nap-agent check --values %s", path) < 0)
                        fix = NULL;
                add(ctx, DOCTOR_FAIL, "values.valid", fix, "%s", why ? why : STRERROR(r));
        } else
                add(ctx, DOCTOR_OK, "values.valid", NULL, "%s is valid: sandbox %s, browser %s", path,
                    config_module_enabled(ctx->config, MODULE_SANDBOX) ? "on" : "off",
                    config_module_enabled(ctx->config, MODULE_BROWSER) ? "on" : "off");
        if (stat(path, &st) < 0)
                return; /* missing: values.valid said so */
        if (st.st_mode & 0004) {
                _cleanup_free_ char *fix = NULL;
                if (asprintf(&fix, "chmod 0640 %s", path) < 0)
                        fix = NULL;
                add(ctx, DOCTOR_WARN, "values.permissions", fix, "%s is world-readable (mode %04o) and holds secrets",
                    path, st.st_mode & 07777);
        } else
                add(ctx, DOCTOR_OK, "values.permissions", NULL, "%s is not world-readable (mode %04o)", path,
                    st.st_mode & 07777);
        if (!ctx->config)
                return;
        const EnvEntry *tos = envfile_get(ctx->config->env, "TOS_HOST"), *nap = envfile_get(ctx->config->env, "NAP_HOST");
        if (tos && nap && !streq(tos->value, nap->value))
                add(ctx, DOCTOR_WARN, "values.host", "remove the TOS_HOST line; NAP_HOST wins",
                    "TOS_HOST and NAP_HOST differ; NAP_HOST is used");
        else if (tos && !nap)
                add(ctx, DOCTOR_OK, "values.host", NULL,
                    "TOS_HOST is set (NAP_HOST is its newer name; either works)");
        else if (tos)
                add(ctx, DOCTOR_OK, "values.host", NULL, "TOS_HOST and NAP_HOST agree");
        else if (nap)
                add(ctx, DOCTOR_OK, "values.host", NULL, "NAP_HOST is set");
        else
                add(ctx, DOCTOR_OK, "values.host", NULL, "neither NAP_HOST nor TOS_HOST is set (the default is used)");
}

/* ---- 2. API server, namespace, RBAC ---------------------------------------- */

static bool can(Ctx *ctx, const char *verb, const char *group, const char *resource, const char **ret_reason) {
        _cleanup_free_ char *body = NULL;
        KubeError err = { 0 };
        cJSON *resp = NULL;
        bool allowed = false;

        if (asprintf(&body, "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SelfSubjectAccessReview\","
                     "\"spec\":{\"resourceAttributes\":{\"namespace\":\"%s\",\"verb\":\"%s\",\"group\":\"%s\","
                     "\"resource\":\"%s\"}}}", cget(ctx, "NAMESPACE"), verb, group, resource) < 0)
                return false;
        cJSON *j = cJSON_Parse(body);
        int r = kube_create_path(ctx->kube, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", j, &resp, &err);
        cJSON_Delete(j);
        if (r >= 0) {
                const cJSON *st = cJSON_GetObjectItem(resp, "status");
                allowed = cJSON_IsTrue(cJSON_GetObjectItem(st, "allowed"));
        }
        if (r < 0)
                *ret_reason = "the review itself was refused";
        cJSON_Delete(resp);
        return allowed;
}

static void check_rbac(Ctx *ctx) {
        static const char *const verbs[] = { "get", "patch", "delete" };
        static const char *const res[][2] = { { "", "secrets" }, { "", "services" }, { "apps", "deployments" } };
        StrBuf missing = { 0 };
        const char *reason = NULL;

        for (size_t i = 0; i < ELEMENTSOF(res); i++)
                for (size_t v = 0; v < ELEMENTSOF(verbs); v++)
                        if (!can(ctx, verbs[v], res[i][0], res[i][1], &reason))
                                strbuf_printf(&missing, "%s%s %s", missing.len ? ", " : "", verbs[v], res[i][1]);
        _cleanup_free_ char *m = strbuf_steal(&missing);
        if (m && *m)
                add(ctx, DOCTOR_FAIL, "kube.rbac",
                    "grant the agent's user a Role with get, patch and delete on secrets, services and deployments",
                    "RBAC denies in namespace '%s': %s%s%s", cget(ctx, "NAMESPACE"), m, reason ? "; " : "",
                    reason ? reason : "");
        else
                add(ctx, DOCTOR_OK, "kube.rbac", NULL, "RBAC allows get, patch and delete on secrets, services and "
                    "deployments in '%s'", cget(ctx, "NAMESPACE"));
}

static void check_kube(Ctx *ctx) {
        KubeError err = { 0 };
        cJSON *v = NULL;
        int r;

        r = manager_kube(ctx->m, ctx->config, &ctx->kube);
        if (r < 0) {
                ctx->kube = NULL;
                add(ctx, DOCTOR_FAIL, "kube.reachable", "pass --kubeconfig, or set KUBECONFIG in values.env",
                    "no usable kubeconfig: %s", STRERROR(r));
                return;
        }
        r = kube_get_path(ctx->kube, "/version", &v, &err);
        if (r < 0) {
                add(ctx, DOCTOR_FAIL, "kube.reachable", "check the server address and credentials in the kubeconfig",
                    "API server %s: %s", kube_client_server(ctx->kube), err.message);
                ctx->kube = NULL;
                add(ctx, DOCTOR_SKIP, "kube.namespace", NULL, "not checked: the API server is not reachable");
                add(ctx, DOCTOR_SKIP, "kube.rbac", NULL, "not checked: the API server is not reachable");
                return;
        }
        const cJSON *gv = cJSON_GetObjectItem(v, "gitVersion");
        add(ctx, DOCTOR_OK, "kube.reachable", NULL, "API server %s answers (Kubernetes %s)",
            kube_client_server(ctx->kube), cJSON_IsString(gv) ? gv->valuestring : "?");
        cJSON_Delete(v);
        v = NULL; /* kube_get leaves it alone on failure */

        KubeRef ns = { "v1", "Namespace", NULL, cget(ctx, "NAMESPACE") };
        r = kube_get(ctx->kube, &ns, &v, &err);
        if (r == -ENOENT) {
                _cleanup_free_ char *fix = NULL;
                if (asprintf(&fix, "kubectl create namespace %s", cget(ctx, "NAMESPACE")) < 0)
                        fix = NULL;
                add(ctx, DOCTOR_FAIL, "kube.namespace", fix, "namespace '%s' does not exist", cget(ctx, "NAMESPACE"));
        } else if (r < 0)
                add(ctx, DOCTOR_FAIL, "kube.namespace", NULL, "cannot read namespace '%s': %s", cget(ctx, "NAMESPACE"),
                    err.message);
        else
                add(ctx, DOCTOR_OK, "kube.namespace", NULL, "namespace '%s' exists", cget(ctx, "NAMESPACE"));
        cJSON_Delete(v);
        check_rbac(ctx);
}

/* ---- 3 and 4. oauth_clients: invalid_client, invalid_redirect_uri ------- */

static const struct {
        Module module;
        const char *prefix; /* of the keys */
        const char *client;
        const char *component;
} services[] = {
        { MODULE_SANDBOX, "SANDBOX", "sandbox-service", "sandbox" },
        { MODULE_BROWSER, "BROWSER", "browser-service", "browser" },
};

/* The live Deployment's env value of name in *ret (NULL when the Deployment
 * has no such env). Returns 0, or the negative errno of kube_get with err set
 * (-ENOENT: no such Deployment). */
static int live_env(Ctx *ctx, const char *deployment, const char *name, char **ret, KubeError *err) {
        KubeRef ref = { "apps/v1", "Deployment", cget(ctx, "NAMESPACE"), deployment };
        cJSON *d = NULL;
        char *out = NULL;
        const cJSON *c, *e;
        int r;

        *ret = NULL;
        r = kube_get(ctx->kube, &ref, &d, err);
        if (r < 0)
                return r;
        const cJSON *containers = cJSON_GetObjectItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "spec"), "template"), "spec"),
                "containers");
        cJSON_ArrayForEach(c, containers) cJSON_ArrayForEach(e, cJSON_GetObjectItem(c, "env")) {
                const cJSON *n = cJSON_GetObjectItem(e, "name"), *v = cJSON_GetObjectItem(e, "value");
                if (!out && cJSON_IsString(n) && streq(n->valuestring, name) && cJSON_IsString(v))
                        out = strdup(v->valuestring);
        }
        cJSON_Delete(d);
        *ret = out;
        return 0;
}

static void check_node_port(Ctx *ctx, size_t i, const char *svc_name) {
        _cleanup_free_ char *id = NULL, *key = NULL;
        KubeRef ref = { "v1", "Service", cget(ctx, "NAMESPACE"), svc_name };
        KubeError err = { 0 };
        cJSON *s = NULL;
        int r;

        if (ctx->config->ingress_external)
                return;
        if (asprintf(&id, "nodeport.%s", services[i].component) < 0 ||
            asprintf(&key, "%s_NODE_PORT", services[i].prefix) < 0) {
                ctx->error = -ENOMEM;
                return;
        }
        if (!ctx->kube) {
                add(ctx, DOCTOR_SKIP, id, NULL, "not checked: the API server is not reachable");
                return;
        }
        r = kube_get(ctx->kube, &ref, &s, &err);
        if (r == -ENOENT) {
                add(ctx, DOCTOR_FAIL, id, "nap-agent apply --resync", "Service '%s' does not exist", svc_name);
                return;
        }
        if (r < 0) {
                add(ctx, DOCTOR_FAIL, id, NULL, "cannot read Service '%s': %s", svc_name, err.message);
                return;
        }
        const cJSON *np = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "spec"), "ports"), 0), "nodePort");
        long want = strtol(cget(ctx, key), NULL, 10);
        if (!cJSON_IsNumber(np))
                add(ctx, DOCTOR_FAIL, id, "nap-agent apply --resync",
                    "Service '%s' has no nodePort but values.env says %s=%ld", svc_name, key, want);
        else if (np->valueint != want)
                add(ctx, DOCTOR_FAIL, id, "nap-agent apply --resync",
                    "Service '%s' has nodePort %d but values.env says %s=%ld", svc_name, np->valueint, key, want);
        else
                add(ctx, DOCTOR_OK, id, NULL, "Service '%s' has nodePort %ld as values.env says", svc_name, want);
        cJSON_Delete(s);
}

static void check_service_oauth(Ctx *ctx, size_t i) {
        _cleanup_free_ char *id_exists = NULL, *id_uri = NULL, *dep = NULL, *url_key = NULL, *pub_key = NULL,
                            *live_url = NULL, *expect = NULL;
        _cleanup_(oauth_client_freep) OAuthClient *row = NULL;
        OAuthError err = { 0 };
        int r;

        if (asprintf(&id_exists, "oauth.%s.exists", services[i].client) < 0 ||
            asprintf(&id_uri, "oauth.%s.redirect_uri", services[i].client) < 0 ||
            asprintf(&dep, "%s-%s", cget(ctx, "APP_PREFIX"), services[i].component) < 0 ||
            asprintf(&url_key, "%s_SERVICE_URL", services[i].prefix) < 0 ||
            asprintf(&pub_key, "%s_PUBLIC_URL", services[i].prefix) < 0) {
                ctx->error = -ENOMEM;
                return;
        }
        if (ctx->config->ingress_external && strempty(config_get(ctx->config, pub_key))) {
                _cleanup_free_ char *fix = NULL;
                if (asprintf(&fix, "set %s=https://... in values.env", pub_key) < 0)
                        fix = NULL;
                add(ctx, DOCTOR_WARN, id_uri, fix, "INGRESS_MODE=external but %s is empty: logins will fail with "
                    "400 invalid_redirect_uri", pub_key);
        }
        check_node_port(ctx, i, dep);
        if (!ctx->db)
                return;
        r = oauth_get(ctx->db, services[i].client, &row, &err);
        if (r < 0) {
                add(ctx, DOCTOR_FAIL, id_exists, NULL, "cannot read %s's row in oauth_clients: %s",
                    services[i].client, err.message);
                return;
        }
        if (r == 0) {
                add(ctx, DOCTOR_FAIL, id_exists, "nap-agent seed",
                    "%s: no row in oauth_clients (logins fail with 400 invalid_client)", services[i].client);
                return;
        }
        add(ctx, DOCTOR_OK, id_exists, NULL, "%s is registered in oauth_clients", services[i].client);
        if (!ctx->kube) {
                add(ctx, DOCTOR_SKIP, id_uri, NULL, "not checked: the API server is not reachable");
                return;
        }
        KubeError kerr = { 0 };
        r = live_env(ctx, dep, url_key, &live_url, &kerr);
        if (r == -ENOENT) {
                add(ctx, DOCTOR_FAIL, id_uri, "nap-agent apply --resync", "Deployment '%s' does not exist", dep);
                return;
        }
        if (r < 0) {
                add(ctx, DOCTOR_FAIL, id_uri, NULL, "cannot read Deployment '%s': %s", dep, kerr.message);
                return;
        }
        if (!live_url) {
                add(ctx, DOCTOR_FAIL, id_uri, "nap-agent apply --resync", "Deployment '%s' has no %s env", dep,
                    url_key);
                return;
        }
        if (asprintf(&expect, "%s/api/auth/callback", live_url) < 0) {
                ctx->error = -ENOMEM;
                return;
        }
        r = oauth_redirect_uri_matches(ctx->db, services[i].client, expect, &err);
        if (r == 1)
                add(ctx, DOCTOR_OK, id_uri, NULL, "%s's redirect_uris contain %s", services[i].client, expect);
        else
                add(ctx, DOCTOR_FAIL, id_uri, "nap-agent seed",
                    "%s's redirect_uris lack %s, which the live Deployment uses (400 invalid_redirect_uri)%s%s",
                    services[i].client, expect, r < 0 ? ": " : "", r < 0 ? err.message : "");
}

static void check_oauth(Ctx *ctx) {
        bool any = false;

        for (size_t i = 0; i < ELEMENTSOF(services); i++)
                any = any || config_module_enabled(ctx->config, services[i].module);
        if (!any)
                return;
        if (manager_db(ctx->m, ctx->config, &ctx->db) < 0) {
                ctx->db = NULL;
                add(ctx, DOCTOR_FAIL, "oauth.database", "set DATABASE_URL in values.env, or PG_USERNAME/PG_PASSWORD",
                    "cannot reach the control plane's database (see the error above)");
        } else
                add(ctx, DOCTOR_OK, "oauth.database", NULL, "the control plane's database answers");
        for (size_t i = 0; i < ELEMENTSOF(services); i++)
                if (config_module_enabled(ctx->config, services[i].module))
                        check_service_oauth(ctx, i);
}

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
static cJSON *list_items(Ctx *ctx, const char *path, const char *query, KubeError *err) {
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
static int assess_workload(Ctx *ctx, const char *kind, const char *name, RolloutAssessment *ret, KubeError *err) {
        _cleanup_free_ char *rs_path = NULL, *pod_path = NULL, *query = NULL;
        _cleanup_(cJSON_Deletep) cJSON *w = NULL, *rss = NULL, *pods = NULL;
        const char *ns = cget(ctx, "NAMESPACE");
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
static void check_workload(Ctx *ctx, const char *id, const char *kind, const char *name, const char *effect) {
        _cleanup_free_ char *fix = NULL;
        RolloutAssessment a;
        KubeError err = { 0 };

        if (!ctx->kube) {
                add(ctx, DOCTOR_SKIP, id, NULL, "not checked: the API server is not reachable");
                return;
        }
        if (asprintf(&fix, "kubectl -n %s describe pod -l app=%s", cget(ctx, "NAMESPACE"), name) < 0)
                fix = NULL;
        if (assess_workload(ctx, kind, name, &a, &err) < 0)
                add(ctx, DOCTOR_FAIL, id, NULL, "cannot read %s '%s': %s", kind, name, err.message);
        else if (a.health == ROLLOUT_AVAILABLE)
                add(ctx, DOCTOR_OK, id, NULL, "%s '%s' is available: %s", kind, name, a.message);
        else if (a.health == ROLLOUT_FAILING && streq(a.reason, "NotFound"))
                add(ctx, DOCTOR_FAIL, id, "nap-agent apply --resync", "%s '%s' does not exist: %s", kind, name, effect);
        else if (a.health == ROLLOUT_FAILING)
                add(ctx, DOCTOR_FAIL, id, fix, "%s '%s' is failing: %s: %s", kind, name, a.message, effect);
        else
                add(ctx, DOCTOR_WARN, id, fix, "%s '%s' is rolling out: %s", kind, name, a.message);
}

static void check_turn(Ctx *ctx) {
        const char *host = cget(ctx, "TURN_HOST");
        unsigned port = (unsigned) strtoul(cget(ctx, "TURN_PORT"), NULL, 10);
        int r;

        if (!config_module_enabled(ctx->config, MODULE_BROWSER))
                return;
        if (!*host) {
                add(ctx, DOCTOR_FAIL, "turn.host", "set TURN_HOST=<node IP> in values.env",
                    "TURN_HOST is empty: browsers get no video");
                return;
        }
        bool ip = is_ip_address(host);
        if (!ip)
                add(ctx, DOCTOR_WARN, "turn.host", "set TURN_HOST to the node's IP address",
                    "TURN_HOST=%s is not an IP address", host);
        else
                add(ctx, DOCTOR_OK, "turn.host", NULL, "TURN_HOST=%s is an IP address", host);
        check_workload(ctx, "turn.pod", "Deployment", "coturn", "browsers get no video");
        if (!ip) {
                /* Never resolve a name here: the probe goes only to the configured address. */
                add(ctx, DOCTOR_SKIP, "turn.stun", NULL, "not probed: TURN_HOST is not an IP address");
                return;
        }
        _cleanup_free_ char *mapped = NULL;
        r = doctor_stun_ping(host, port, ctx->opts->stun_timeout_ms, &mapped);
        if (r < 0)
                add(ctx, DOCTOR_FAIL, "turn.stun", "check that coturn runs and that UDP to TURN_HOST:TURN_PORT is open",
                    "no STUN answer from %s:%u (%s): browsers will show a black screen", host, port, STRERROR(r));
        else
                add(ctx, DOCTOR_OK, "turn.stun", NULL, "STUN Binding answered by %s:%u%s%s", host, port,
                    mapped ? ", mapped address " : "", mapped ? mapped : "");
}

/* The services' own Deployments, judged as the daemon judges a rollout. */
static void check_services(Ctx *ctx) {
        _cleanup_free_ char *sandbox = NULL, *browser = NULL;

        if (asprintf(&sandbox, "%s-sandbox", cget(ctx, "APP_PREFIX")) < 0 ||
            asprintf(&browser, "%s-browser", cget(ctx, "APP_PREFIX")) < 0) {
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
static void check_opensandbox_template(Ctx *ctx, const char *ns, const cJSON *pods) {
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
                add(ctx, DOCTOR_WARN, "opensandbox.template", fix, "no ConfigMap '" OSB_TEMPLATE "' in '%s': unless "
                    "the template is baked into OpenSandbox's values, sandboxes do not start the way NAP expects", ns);
                return;
        }
        if (r < 0) {
                add(ctx, DOCTOR_FAIL, "opensandbox.template", NULL, "cannot read ConfigMap '" OSB_TEMPLATE "': %s",
                    err.message);
                return;
        }
        if (!json_string(JSON_GET(cm, "data"), OSB_TEMPLATE_KEY)) {
                add(ctx, DOCTOR_FAIL, "opensandbox.template", fix, "ConfigMap '" OSB_TEMPLATE "' in '%s' has no key '"
                    OSB_TEMPLATE_KEY "'", ns);
                return;
        }
        cJSON_ArrayForEach(pod, pods)
                mounted = mounted || pod_mounts(pod, OSB_TEMPLATE);
        if (!mounted && cJSON_GetArraySize(pods) > 0)
                add(ctx, DOCTOR_WARN, "opensandbox.template", fix, "ConfigMap '" OSB_TEMPLATE "' exists in '%s' but no "
                    "OpenSandbox pod mounts it", ns);
        else
                add(ctx, DOCTOR_OK, "opensandbox.template", NULL, "ConfigMap '" OSB_TEMPLATE "' is in '%s'%s", ns,
                    mounted ? " and mounted" : "");
}

/* OpenSandbox present: its pods, or at least the Service OPENSANDBOX_URL
 * names (it may label its pods otherwise). */
static void check_opensandbox_present(Ctx *ctx, const char *url, const char *ns) {
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
                        add(ctx, DOCTOR_FAIL, "opensandbox.service", "install OpenSandbox (its Helm chart), or set "
                            "OPENSANDBOX_URL", "no Service '%s' in '%s': OPENSANDBOX_URL does not resolve in the cluster",
                            name, ns);
                else if (r < 0)
                        add(ctx, DOCTOR_FAIL, "opensandbox.service", NULL, "cannot read Service '%s': %s", name,
                            err.message);
                else
                        add(ctx, DOCTOR_OK, "opensandbox.service", NULL, "Service '%s' in '%s' exists: OPENSANDBOX_URL "
                            "resolves in the cluster", name, ns);
        } else
                add(ctx, DOCTOR_SKIP, "opensandbox.service", NULL, "not checked: OPENSANDBOX_URL does not name a "
                    "cluster Service (NAME.NAMESPACE.svc)");
        if (kube_collection_path("v1", "Pod", ns, &path) < 0 ||
            !(pods = list_items(ctx, path, "labelSelector=app.kubernetes.io%2Fname%3Dopensandbox", &err)))
                add(ctx, DOCTOR_FAIL, "opensandbox.pods", NULL, "cannot list pods in '%s': %s", ns, err.message);
        else if (cJSON_GetArraySize(pods) == 0 && r >= 0)
                add(ctx, DOCTOR_WARN, "opensandbox.pods", NULL, "no pods labelled app.kubernetes.io/name=opensandbox "
                    "in '%s', but Service '%s' exists (OpenSandbox may label its pods otherwise)", ns, name);
        else if (cJSON_GetArraySize(pods) == 0)
                add(ctx, DOCTOR_FAIL, "opensandbox.pods", "install OpenSandbox into that namespace (its Helm chart)",
                    "no OpenSandbox pods (app.kubernetes.io/name=opensandbox) in namespace '%s': sandboxes cannot start",
                    ns);
        else
                add(ctx, DOCTOR_OK, "opensandbox.pods", NULL, "%d OpenSandbox pod(s) in '%s', %u ready",
                    cJSON_GetArraySize(pods), ns, ready_pods(pods));
        check_opensandbox_template(ctx, ns, pods);
}

static void check_opensandbox(Ctx *ctx) {
        const char *url = cget(ctx, "OPENSANDBOX_URL");
        char ns[64];

        if (!config_module_enabled(ctx->config, MODULE_SANDBOX))
                return;
        if (!is_http_url(url)) {
                add(ctx, DOCTOR_FAIL, "opensandbox.url", "set OPENSANDBOX_URL=http://opensandbox-server.NS.svc:80",
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
                snprintf(ns, sizeof ns, "%s", cget(ctx, "NAMESPACE"));
        add(ctx, DOCTOR_OK, "opensandbox.url", NULL, "OPENSANDBOX_URL parses; OpenSandbox expected in namespace '%s'", ns);
        if (!ctx->kube) {
                static const char *const ids[] = { "opensandbox.service", "opensandbox.pods", "opensandbox.template" };
                for (size_t i = 0; i < ELEMENTSOF(ids); i++)
                        add(ctx, DOCTOR_SKIP, ids[i], NULL, "not checked: the API server is not reachable");
                return;
        }
        check_opensandbox_present(ctx, url, ns);
}

/* ---- 7. the agent itself --------------------------------------------------- */

static void check_daemon(Ctx *ctx) {
        char line[512];
        StrBuf out = { 0 };
        FILE *p;

        if (access("/run/systemd/system", F_OK) < 0)
                return; /* not booted with systemd */
        p = popen("systemctl show -p ActiveState -p StatusText nap-agent.service 2>/dev/null", "re");
        if (!p)
                return;
        while (fgets(line, sizeof line, p)) {
                line[strcspn(line, "\n")] = 0;
                strbuf_printf(&out, "%s%s", out.len ? ", " : "", line);
        }
        pclose(p);
        _cleanup_free_ char *s = strbuf_steal(&out);
        if (s && strstr(s, "ActiveState=active"))
                add(ctx, DOCTOR_OK, "agent.daemon", NULL, "nap-agent.service: %s", s);
        else if (s && *s)
                add(ctx, DOCTOR_WARN, "agent.daemon", "systemctl enable --now nap-agent", "nap-agent.service: %s", s);
}

static void check_agent(Ctx *ctx) {
        const Ledger *l = ctx->m->ledger;
        unsigned missing = 0, unreadable = 0;
        StrBuf names = { 0 };
        char first_error[sizeof ((KubeError) { 0 }).message] = "";

        if (l->unreadable)
                add(ctx, DOCTOR_WARN, "agent.ledger", "nap-agent apply",
                    "%s: the next pass moves it aside and applies every object once more", l->unreadable);
        else
                add(ctx, DOCTOR_OK, "agent.ledger", NULL, "ledger in '%s' is readable: generation %llu, %zu "
                    "object(s), %zu oauth client(s)", ctx->m->state_dir, (unsigned long long) l->generation,
                    l->n_objects, l->n_clients);
        if (l->last_result && streq(l->last_result, "error"))
                add(ctx, DOCTOR_FAIL, "agent.last_pass", "journalctl -u nap-agent", "last pass at %s failed: %s",
                    l->last_time ? l->last_time : "?", l->last_message ? l->last_message : "?");
        else if (l->last_result)
                add(ctx, DOCTOR_OK, "agent.last_pass", NULL, "last pass at %s: %s", l->last_time ? l->last_time : "?",
                    l->last_message ? l->last_message : "ok");
        else
                add(ctx, DOCTOR_WARN, "agent.last_pass", "nap-agent apply (or systemctl enable --now nap-agent)",
                    "no pass recorded in '%s': nothing has been applied from this state directory yet",
                    ctx->m->state_dir);
        for (size_t i = 0; ctx->kube && i < l->n_objects; i++) {
                const LedgerObject *o = &l->objects[i];
                KubeRef ref = { o->api_version, o->kind, o->namespace, o->name };
                KubeError err = { 0 };
                cJSON *live = NULL;
                int r = kube_get(ctx->kube, &ref, &live, &err);
                if (r == -ENOENT) {
                        missing++;
                        strbuf_printf(&names, "%s%s/%s", names.len ? ", " : "", o->kind, o->name);
                } else if (r < 0) {
                        if (unreadable++ == 0)
                                snprintf(first_error, sizeof first_error, "%s", err.message);
                } else
                        cJSON_Delete(live);
        }
        _cleanup_free_ char *n = strbuf_steal(&names);
        if (missing)
                add(ctx, DOCTOR_FAIL, "agent.drift", "nap-agent apply --resync",
                    "%u object(s) the agent applied are missing live: %s", missing, n ? n : "?");
        else if (ctx->kube && unreadable)
                add(ctx, DOCTOR_FAIL, "agent.drift", NULL, "cannot read %u of %zu object(s) in the ledger: %s",
                    unreadable, l->n_objects, first_error);
        else if (ctx->kube)
                add(ctx, DOCTOR_OK, "agent.drift", NULL, "every object in the ledger exists live");
        else
                add(ctx, DOCTOR_SKIP, "agent.drift", NULL, "not checked: the API server is not reachable");
        check_daemon(ctx);
}

/* ---- the report ------------------------------------------------------------ */

int doctor_run(Manager *m, const DoctorOptions *opts, DoctorReport *ret) {
        DoctorOptions defaults = { 0 };
        Ctx ctx = { .m = m, .opts = opts ? opts : &defaults, .report = ret };

        *ret = (DoctorReport) { 0 };
        check_values(&ctx);
        if (ctx.config) {
                check_kube(&ctx);
                check_oauth(&ctx);
                check_services(&ctx);
                check_turn(&ctx);
                check_opensandbox(&ctx);
        }
        check_agent(&ctx);
        config_free(ctx.config);
        desired_set_free(ctx.desired);
        return ctx.error;
}

void doctor_report_clear(DoctorReport *r) {
        for (size_t i = 0; i < r->n_checks; i++) {
                free(r->checks[i].id);
                free(r->checks[i].summary);
                free(r->checks[i].fix);
        }
        free(r->checks);
        *r = (DoctorReport) { 0 };
}

bool doctor_report_failed(const DoctorReport *r) {
        for (size_t i = 0; i < r->n_checks; i++)
                if (r->checks[i].status == DOCTOR_FAIL)
                        return true;
        return false;
}

static const char *status_word(DoctorStatus s) {
        static const char *const w[] = { "ok", "warn", "fail", "skip" };
        return w[s];
}

void doctor_print(const DoctorReport *r, FILE *f) {
        size_t counts[4] = { 0 };

        for (size_t i = 0; i < r->n_checks; i++) {
                const DoctorCheck *c = &r->checks[i];
                counts[c->status]++;
                fprintf(f, "%-4s  %-38s %s\n", status_word(c->status), c->id, c->summary);
                if (c->fix && c->status != DOCTOR_OK)
                        fprintf(f, "      %-38s fix: %s\n", "", c->fix);
        }
        fprintf(f, "%zu ok, %zu warning(s), %zu failure(s)", counts[DOCTOR_OK], counts[DOCTOR_WARN],
                counts[DOCTOR_FAIL]);
        if (counts[DOCTOR_SKIP] > 0)
                fprintf(f, ", %zu skipped", counts[DOCTOR_SKIP]);
        fputc('\n', f);
}

char *doctor_report_json(const DoctorReport *r) {
        cJSON *j = cJSON_CreateObject(), *arr;
        char *s;

        if (!j)
                return NULL;
        cJSON_AddBoolToObject(j, "ok", !doctor_report_failed(r));
        arr = cJSON_AddArrayToObject(j, "checks");
        for (size_t i = 0; i < r->n_checks; i++) {
                cJSON *c = cJSON_CreateObject();
                cJSON_AddStringToObject(c, "id", r->checks[i].id);
                cJSON_AddStringToObject(c, "status", status_word(r->checks[i].status));
                cJSON_AddStringToObject(c, "summary", r->checks[i].summary);
                if (r->checks[i].fix)
                        cJSON_AddStringToObject(c, "fix", r->checks[i].fix);
                else
                        cJSON_AddNullToObject(c, "fix");
                cJSON_AddItemToArray(arr, c);
        }
        s = cJSON_Print(j);
        cJSON_Delete(j);
        return s;
}
