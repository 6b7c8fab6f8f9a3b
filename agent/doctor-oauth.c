/* SPDX-License-Identifier: Apache-2.0 */
/*
 * doctor's checks of the two errors a login through a service ends in when
 * its oauth client is wrong: 400 invalid_client (no row in oauth_clients)
 * and 400 invalid_redirect_uri (the row lacks the callback URL of the
 * service the live Deployment points browsers at), and that the NodePort
 * Service listens where values.env says.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor-internal.h"
#include "util/json.h"

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
static int live_env(DoctorCtx *ctx, const char *deployment, const char *name, char **ret, KubeError *err) {
        KubeRef ref = { "apps/v1", "Deployment", doctor_cget(ctx, "NAMESPACE"), deployment };
        cJSON *d = NULL;
        char *out = NULL;
        const cJSON *c, *e;
        int r;

        *ret = NULL;
        r = kube_get(ctx->kube, &ref, &d, err);
        if (r < 0)
                return r;
        const cJSON *containers = JSON_GET(d, "spec", "template", "spec", "containers");
        cJSON_ArrayForEach(c, containers) cJSON_ArrayForEach(e, cJSON_GetObjectItem(c, "env")) {
                const cJSON *n = cJSON_GetObjectItem(e, "name"), *v = cJSON_GetObjectItem(e, "value");
                if (!out && cJSON_IsString(n) && streq(n->valuestring, name) && cJSON_IsString(v))
                        out = strdup(v->valuestring);
        }
        cJSON_Delete(d);
        *ret = out;
        return 0;
}

static void check_node_port(DoctorCtx *ctx, size_t i, const char *svc_name) {
        _cleanup_free_ char *id = NULL, *key = NULL;
        KubeRef ref = { "v1", "Service", doctor_cget(ctx, "NAMESPACE"), svc_name };
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
                doctor_add(ctx, DOCTOR_SKIP, id, NULL, "not checked: the API server is not reachable");
                return;
        }
        r = kube_get(ctx->kube, &ref, &s, &err);
        if (r == -ENOENT) {
                doctor_add(ctx, DOCTOR_FAIL, id, "nap-agent apply --resync", "Service '%s' does not exist", svc_name);
                return;
        }
        if (r < 0) {
                doctor_add(ctx, DOCTOR_FAIL, id, NULL, "cannot read Service '%s': %s", svc_name, err.message);
                return;
        }
        const cJSON *np = cJSON_GetObjectItem(cJSON_GetArrayItem(JSON_GET(s, "spec", "ports"), 0), "nodePort");
        long want = strtol(doctor_cget(ctx, key), NULL, 10);
        if (!cJSON_IsNumber(np))
                doctor_add(ctx, DOCTOR_FAIL, id, "nap-agent apply --resync",
                           "Service '%s' has no nodePort but values.env says %s=%ld", svc_name, key, want);
        else if (np->valueint != want)
                doctor_add(ctx, DOCTOR_FAIL, id, "nap-agent apply --resync",
                           "Service '%s' has nodePort %d but values.env says %s=%ld", svc_name, np->valueint, key,
                           want);
        else
                doctor_add(ctx, DOCTOR_OK, id, NULL, "Service '%s' has nodePort %ld as values.env says", svc_name,
                           want);
        cJSON_Delete(s);
}

/* The row's redirect_uris hold the callback of the URL the live
 * Deployment sends browsers to (its *_SERVICE_URL env). */
static void check_redirect_uri(DoctorCtx *ctx, size_t i, const char *dep, const char *url_key, const char *id_uri) {
        _cleanup_free_ char *live_url = NULL, *expect = NULL;
        OAuthError err = { 0 };
        int r;

        KubeError kerr = { 0 };
        r = live_env(ctx, dep, url_key, &live_url, &kerr);
        if (r == -ENOENT) {
                doctor_add(ctx, DOCTOR_FAIL, id_uri, "nap-agent apply --resync", "Deployment '%s' does not exist", dep);
                return;
        }
        if (r < 0) {
                doctor_add(ctx, DOCTOR_FAIL, id_uri, NULL, "cannot read Deployment '%s': %s", dep, kerr.message);
                return;
        }
        if (!live_url) {
                doctor_add(ctx, DOCTOR_FAIL, id_uri, "nap-agent apply --resync", "Deployment '%s' has no %s env", dep,
                           url_key);
                return;
        }
        if (asprintf(&expect, "%s/api/auth/callback", live_url) < 0) {
                ctx->error = -ENOMEM;
                return;
        }
        r = oauth_redirect_uri_matches(ctx->db, services[i].client, expect, &err);
        if (r == 1)
                doctor_add(ctx, DOCTOR_OK, id_uri, NULL, "%s's redirect_uris contain %s", services[i].client, expect);
        else
                doctor_add(ctx, DOCTOR_FAIL, id_uri, "nap-agent seed",
                           "%s's redirect_uris lack %s, which the live Deployment uses (400 invalid_redirect_uri)%s%s",
                           services[i].client, expect, r < 0 ? ": " : "", r < 0 ? err.message : "");
}

static void check_service_oauth(DoctorCtx *ctx, size_t i) {
        _cleanup_free_ char *id_exists = NULL, *id_uri = NULL, *dep = NULL, *url_key = NULL, *pub_key = NULL;
        _cleanup_(oauth_client_freep) OAuthClient *row = NULL;
        OAuthError err = { 0 };
        int r;

        if (asprintf(&id_exists, "oauth.%s.exists", services[i].client) < 0 ||
            asprintf(&id_uri, "oauth.%s.redirect_uri", services[i].client) < 0 ||
            asprintf(&dep, "%s-%s", doctor_cget(ctx, "APP_PREFIX"), services[i].component) < 0 ||
            asprintf(&url_key, "%s_SERVICE_URL", services[i].prefix) < 0 ||
            asprintf(&pub_key, "%s_PUBLIC_URL", services[i].prefix) < 0) {
                ctx->error = -ENOMEM;
                return;
        }
        if (ctx->config->ingress_external && strempty(config_get(ctx->config, pub_key))) {
                _cleanup_free_ char *fix = NULL;
                if (asprintf(&fix, "set %s=https://... in values.env", pub_key) < 0)
                        fix = NULL;
                doctor_add(ctx, DOCTOR_WARN, id_uri, fix,
                           "INGRESS_MODE=external but %s is empty: logins will fail with 400 invalid_redirect_uri",
                           pub_key);
        }
        check_node_port(ctx, i, dep);
        if (!ctx->db)
                return;
        r = oauth_get(ctx->db, services[i].client, &row, &err);
        if (r < 0) {
                doctor_add(ctx, DOCTOR_FAIL, id_exists, NULL, "cannot read %s's row in oauth_clients: %s",
                           services[i].client, err.message);
                return;
        }
        if (r == 0) {
                doctor_add(ctx, DOCTOR_FAIL, id_exists, "nap-agent seed",
                           "%s: no row in oauth_clients (logins fail with 400 invalid_client)", services[i].client);
                return;
        }
        doctor_add(ctx, DOCTOR_OK, id_exists, NULL, "%s is registered in oauth_clients", services[i].client);
        if (!ctx->kube) {
                doctor_add(ctx, DOCTOR_SKIP, id_uri, NULL, "not checked: the API server is not reachable");
                return;
        }
        check_redirect_uri(ctx, i, dep, url_key, id_uri);
}

void doctor_check_oauth(DoctorCtx *ctx) {
        bool any = false;

        assert(ctx);
        assert(ctx->config);

        for (size_t i = 0; i < ELEMENTSOF(services); i++)
                any = any || config_module_enabled(ctx->config, services[i].module);
        if (!any)
                return;
        if (manager_db(ctx->m, ctx->config, &ctx->db) < 0) {
                ctx->db = NULL;
                doctor_add(ctx, DOCTOR_FAIL, "oauth.database",
                           "set DATABASE_URL in values.env, or PG_USERNAME/PG_PASSWORD",
                           "cannot reach the control plane's database (see the error above)");
        } else
                doctor_add(ctx, DOCTOR_OK, "oauth.database", NULL, "the control plane's database answers");
        for (size_t i = 0; i < ELEMENTSOF(services); i++)
                if (config_module_enabled(ctx->config, services[i].module))
                        check_service_oauth(ctx, i);
}

