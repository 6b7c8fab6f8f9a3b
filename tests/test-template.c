/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-util.h"
#include "template.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/strbuf.h"

static const TemplateDirs dirs = { .dir = NAP_TEST_TEMPLATES, .override_dir = "/nonexistent/nap-test" };

static DesiredSet *render_strv(const char *const *kv) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) Config *c = config_from_strv(kv, &d);
        DesiredSet *s = NULL;

        for (size_t i = 0; i < d.n; i++)
                if (d.items[i].severity == DIAG_ERROR)
                        TEST_FAIL("config error: %s", d.items[i].message);
        ASSERT_OK(template_render(c, &dirs, &s, &d));
        return s;
}
#define RENDER(...) render_strv((const char *const[]) { __VA_ARGS__, NULL })

static const DesiredObject *find(const DesiredSet *s, const char *kind, const char *name) {
        for (size_t i = 0; i < s->n_objects; i++)
                if (streq(s->objects[i].kind, kind) && streq(s->objects[i].name, name))
                        return &s->objects[i];
        return NULL;
}

static const DesiredClient *find_client(const DesiredSet *s, const char *id) {
        for (size_t i = 0; i < s->n_clients; i++)
                if (streq(s->clients[i].id, id))
                        return &s->clients[i];
        return NULL;
}

static const char *env_value(const DesiredObject *o, const char *name) {
        const cJSON *containers = cJSON_GetObjectItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o->body, "spec"), "template"), "spec"),
                "containers");
        const cJSON *e;

        cJSON_ArrayForEach(e, cJSON_GetObjectItem(cJSON_GetArrayItem(containers, 0), "env")) {
                const cJSON *n = cJSON_GetObjectItem(e, "name"), *v = cJSON_GetObjectItem(e, "value");
                if (cJSON_IsString(n) && streq(n->valuestring, name))
                        return cJSON_IsString(v) ? v->valuestring : NULL;
        }
        return NULL;
}

static const cJSON *first_service_port(const DesiredObject *o) {
        return cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o->body, "spec"), "ports"), 0);
}

TEST(modules_select_objects) {
        _cleanup_(desired_set_freep) DesiredSet *both = RENDER(BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true");
        _cleanup_(desired_set_freep) DesiredSet *sb = RENDER(BASE_KEYS, "SANDBOX_ENABLED=true");
        _cleanup_(desired_set_freep) DesiredSet *none = RENDER(BASE_KEYS, "SANDBOX_ENABLED=false");

        _cleanup_(desired_set_freep) DesiredSet *br = RENDER(BASE_KEYS, "BROWSER_ENABLED=true");

        /* + the partial nap-cp, whatever the toggles say */
        ASSERT_EQ(both->n_objects, 10);
        ASSERT_EQ(both->n_clients, 2);
        ASSERT_EQ(sb->n_objects, 5);
        ASSERT_EQ(sb->n_clients, 1);
        ASSERT_TRUE(find(sb, "Deployment", "nap-sandbox"));
        ASSERT_TRUE(find(sb, "DaemonSet", "sandbox-image-warmer"));
        ASSERT_NULL(find(sb, "Deployment", "coturn"));
        /* the browser reads SANDBOX_SERVICE_KEY from the sandbox's Secret, so
         * that Secret comes with the browser alone too */
        ASSERT_EQ(br->n_objects, 7);
        ASSERT_TRUE(find(br, "Secret", "nap-sandbox-secret"));
        ASSERT_NULL(find(br, "Deployment", "nap-sandbox"));
        ASSERT_NULL(find(br, "DaemonSet", "sandbox-image-warmer"));
        ASSERT_EQ(none->n_objects, 1);
        ASSERT_TRUE(find(none, "Deployment", "nap-cp")->partial);
        ASSERT_EQ(none->n_clients, 0);
        ASSERT_TRUE(find(both, "Deployment", "coturn"));
        ASSERT_TRUE(find(both, "Service", "coturn"));
}

TEST(apply_order) {
        _cleanup_(desired_set_freep) DesiredSet *s = RENDER(BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true");

        for (size_t i = 1; i < s->n_objects; i++)
                ASSERT_TRUE(s->objects[i - 1].rank <= s->objects[i].rank);
        ASSERT_STREQ(s->objects[0].kind, "Secret");
        ASSERT_STREQ(s->objects[s->n_objects - 2].kind, "Deployment");
        ASSERT_STREQ(s->objects[s->n_objects - 1].kind, "DaemonSet");
}

/* The Deployment's *_SERVICE_URL + /api/auth/callback must be the client's
 * redirect_uri: the control plane matches redirect URIs exactly. */
static void check_invariant(const char *const *kv) {
        _cleanup_(desired_set_freep) DesiredSet *s = render_strv(kv);
        static const char *const mods[][3] = {
                { "nap-sandbox", "SANDBOX_SERVICE_URL", "sandbox-service" },
                { "nap-browser", "BROWSER_SERVICE_URL", "browser-service" },
        };

        for (size_t i = 0; i < ELEMENTSOF(mods); i++) {
                const DesiredObject *dep = find(s, "Deployment", mods[i][0]);
                const DesiredClient *cl = find_client(s, mods[i][2]);
                ASSERT_TRUE(!dep == !cl);
                if (!dep)
                        continue;
                _cleanup_free_ char *expect = NULL;
                ASSERT_TRUE(asprintf(&expect, "%s/api/auth/callback", env_value(dep, mods[i][1])) > 0);
                ASSERT_STREQ(cl->redirect_uri, expect);
        }
}
#define INVARIANT(...) check_invariant((const char *const[]) { __VA_ARGS__, NULL })

TEST(service_url_equals_redirect_uri) {
        INVARIANT(BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true");
        INVARIANT(BASE_KEYS, "SANDBOX_ENABLED=true", "SANDBOX_NODE_PORT=31234");
        INVARIANT(BASE_KEYS, "BROWSER_ENABLED=true", "BROWSER_PUBLIC_URL=https://b.example.com/");
        INVARIANT(BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true", "INGRESS_MODE=external",
                  "SANDBOX_PUBLIC_URL=https://s.example.com/x/", "BROWSER_PUBLIC_URL=https://b.example.com");
        INVARIANT(BASE_KEYS, "SANDBOX_ENABLED=true", "INGRESS_MODE=external");
}

TEST(trailing_slash_nowhere) {
        _cleanup_(desired_set_freep) DesiredSet *s =
                RENDER(BASE_KEYS, "SANDBOX_ENABLED=true", "SANDBOX_PUBLIC_URL=https://s.example.com/");

        ASSERT_STREQ(env_value(find(s, "Deployment", "nap-sandbox"), "SANDBOX_SERVICE_URL"), "https://s.example.com");
        ASSERT_STREQ(find_client(s, "sandbox-service")->redirect_uri, "https://s.example.com/api/auth/callback");
}

TEST(node_port_typed_and_dropped) {
        _cleanup_(desired_set_freep) DesiredSet *np = RENDER(BASE_KEYS, "SANDBOX_ENABLED=true");
        _cleanup_(desired_set_freep) DesiredSet *ext = RENDER(BASE_KEYS, "SANDBOX_ENABLED=true", "INGRESS_MODE=external");
        const cJSON *p = first_service_port(find(np, "Service", "nap-sandbox"));

        ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItem(p, "nodePort")));
        ASSERT_EQ(cJSON_GetObjectItem(p, "nodePort")->valueint, 30086);
        p = first_service_port(find(ext, "Service", "nap-sandbox"));
        ASSERT_NULL(cJSON_GetObjectItem(p, "nodePort"));
        ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(find(ext, "Service", "nap-sandbox")->body, "spec"), "type")
                             ->valuestring,
                     "ClusterIP");
        /* An env value stays a string even for an int variable. */
        _cleanup_(desired_set_freep) DesiredSet *br = RENDER(BASE_KEYS, "BROWSER_ENABLED=true");
        ASSERT_STREQ(env_value(find(br, "Deployment", "nap-browser"), "TURN_PORT"), "3478");
}

static void check_ports_have_protocol(const cJSON *j, int *ports_seen) {
        for (const cJSON *c = j->child; c; c = c->next) {
                if (c->string && streq(c->string, "ports") && cJSON_IsArray(c)) {
                        const cJSON *p;
                        cJSON_ArrayForEach(p, c) {
                                ASSERT_TRUE(cJSON_IsString(cJSON_GetObjectItem(p, "protocol")));
                                (*ports_seen)++;
                        }
                }
                if (cJSON_IsObject(c) || cJSON_IsArray(c))
                        check_ports_have_protocol(c, ports_seen);
        }
}

TEST(every_port_has_protocol) {
        _cleanup_(desired_set_freep) DesiredSet *s = RENDER(BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true");
        int seen = 0;

        for (size_t i = 0; i < s->n_objects; i++)
                check_ports_have_protocol(s->objects[i].body, &seen);
        ASSERT_EQ(seen, 8);
}

/* Renders both modules with key set to value, returns the set. */
static DesiredSet *render_with(const char *key, const char *value) {
        static char buf[256];
        snprintf(buf, sizeof buf, "%s=%s", key, value);
        return RENDER(BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true", buf);
}

static const char *sealed(const DesiredObject *o) {
        const cJSON *a = template_secret_digest_annotation(o->body);
        return cJSON_IsString(a) ? a->valuestring : "";
}

static void check_secret_change(const char *key, const char *const *expect_changed) {
        _cleanup_(desired_set_freep) DesiredSet *a = render_with("UNRELATED", "x");
        _cleanup_(desired_set_freep) DesiredSet *b = render_with(key, "changed-0123456789abcdef0123456789abcdef");
        static const unsigned char key32[32] = "a key of thirty-two bytes, fixed";

        ASSERT_OK(template_seal_secret_digests(a, key32, sizeof key32));
        ASSERT_OK(template_seal_secret_digests(b, key32, sizeof key32));
        ASSERT_EQ(a->n_objects, b->n_objects);
        for (size_t i = 0; i < a->n_objects; i++) {
                bool changed = memcmp(a->objects[i].digest, b->objects[i].digest, 32) != 0, expected = false;
                /* the annotation moves exactly with the digest, for the pod templates */
                if (streq(a->objects[i].kind, "Deployment"))
                        ASSERT_EQ(changed, !streq(sealed(&a->objects[i]), sealed(&b->objects[i])));
                char id[256];
                snprintf(id, sizeof id, "%s/%s", a->objects[i].kind, a->objects[i].name);
                for (size_t k = 0; expect_changed[k]; k++)
                        expected = expected || streq(expect_changed[k], id);
                if (changed != expected)
                        TEST_FAIL("%s: %s %s/%s", key, changed ? "unexpectedly changed" : "did not change",
                                  a->objects[i].kind, a->objects[i].name);
        }
}

TEST(secret_change_rolls_only_consumers) {
        check_secret_change("SANDBOX_JWT_SECRET",
                            (const char *const[]) { "Secret/nap-sandbox-secret", "Deployment/nap-sandbox", NULL });
        check_secret_change("SANDBOX_SERVICE_KEY",
                            (const char *const[]) { "Secret/nap-sandbox-secret", "Deployment/nap-sandbox",
                                                    "Deployment/nap-browser", NULL });
        check_secret_change("BROWSER_JWT_SECRET",
                            (const char *const[]) { "Secret/nap-browser-secret", "Deployment/nap-browser", NULL });
        check_secret_change("TURN_AUTH_SECRET",
                            (const char *const[]) { "Secret/nap-browser-secret", "Deployment/nap-browser",
                                                    "Deployment/coturn", NULL });
}

TEST(digest_annotation_present) {
        _cleanup_(desired_set_freep) DesiredSet *s = RENDER(BASE_KEYS, "SANDBOX_ENABLED=true");
        const cJSON *ann = cJSON_GetObjectItem(
                cJSON_GetObjectItem(
                        cJSON_GetObjectItem(cJSON_GetObjectItem(find(s, "Deployment", "nap-sandbox")->body, "spec"),
                                            "template"),
                        "metadata"),
                "annotations");
        const cJSON *d = cJSON_GetObjectItem(ann, SECRET_DIGEST_ANNOTATION);

        /* rendering has no cluster access: the keyed value comes at apply time */
        ASSERT_TRUE(cJSON_IsString(d));
        ASSERT_STREQ(d->valuestring, SECRET_DIGEST_PENDING);
        ASSERT_TRUE(template_needs_secret_digest_key(find(s, "Deployment", "nap-sandbox")));
        ASSERT_TRUE(!template_needs_secret_digest_key(find(s, "Service", "nap-sandbox")));
}

TEST(canonical_is_sorted_and_stable) {
        cJSON *a = cJSON_Parse("{\"b\":1,\"a\":{\"d\":[3,{\"z\":1,\"y\":2}],\"c\":\"x\"}}");
        _cleanup_free_ char *s = json_canonical(a);

        ASSERT_STREQ(s, "{\"a\":{\"c\":\"x\",\"d\":[3,{\"y\":2,\"z\":1}]},\"b\":1}");
        cJSON_Delete(a);
}

TEST(redacted_output_has_no_secret) {
        static const char *const keys[] = { BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true", NULL };
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) Config *c = config_from_strv(keys, &d);
        _cleanup_(desired_set_freep) DesiredSet *s = NULL;

        ASSERT_OK(template_render(c, &dirs, &s, &d));
        for (size_t i = 0; i < s->n_objects; i++) {
                cJSON *j = desired_object_redacted(&s->objects[i], c);
                _cleanup_free_ char *text = cJSON_PrintUnformatted(j);
                cJSON_Delete(j);
                ASSERT_NULL(strstr(text, "0123456789abcdef0123456789abcdef"));
                /* nor its base64 ("0123456789abcdef" encodes to "MDEyMzQ1Njc4OWFiY2RlZ") */
                ASSERT_NULL(strstr(text, "MDEyMzQ1Njc4OWFiY2Rl"));
        }
}

static char *make_dir(void) {
        char tmpl[] = "/tmp/nap-test-XXXXXX";
        ASSERT_TRUE(mkdtemp(tmpl));
        return strdup(tmpl);
}

static void write_text(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *p = NULL;
        ASSERT_TRUE(asprintf(&p, "%s/%s", dir, name) > 0);
        FILE *f = fopen(p, "we");
        ASSERT_TRUE(f);
        fputs(text, f);
        fclose(f);
}

static void remove_dir(const char *dir) {
        _cleanup_free_ char *cmd = NULL;
        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        ASSERT_EQ(system(cmd), 0);
}

/* BASE_KEYS with the sandbox on. */
static Config *sandbox_config(DiagList *d) {
        static const char *const keys[] = { BASE_KEYS, "SANDBOX_ENABLED=true", NULL };

        return config_from_strv(keys, d);
}

TEST(override_dir_replaces_file) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) Config *c = sandbox_config(&d);
        _cleanup_(desired_set_freep) DesiredSet *s = NULL;
        _cleanup_free_ char *odir = make_dir();

        write_text(odir, "sandbox-oauth-client.json",
                   "{\"module\":\"sandbox\",\"oauthClient\":{\"id\":\"sandbox-service\",\"name\":\"Custom\","
                   "\"redirect_uri\":\"${SANDBOX_REDIRECT_URI}\"}}");
        TemplateDirs o = { .dir = NAP_TEST_TEMPLATES, .override_dir = odir };
        ASSERT_OK(template_render(c, &o, &s, &d));
        ASSERT_STREQ(find_client(s, "sandbox-service")->name, "Custom");
        ASSERT_EQ(s->n_clients, 1);
        remove_dir(odir);
}

TEST(template_errors) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) Config *c = sandbox_config(&d);
        DesiredSet *s = NULL;
        _cleanup_free_ char *dir = make_dir();

        write_text(dir, "a.json", "{\"module\":\"sandbox\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                                  "\"metadata\":{\"name\":\"${NO_SUCH_VAR}\"}}}");
        write_text(dir, "b.json", "{\"module\":\"sandbox\",\n \"object\": {,}}");
        TemplateDirs o = { .dir = dir, .override_dir = "/nonexistent" };
        ASSERT_EQ(template_render(c, &o, &s, &d), -EINVAL);
        ASSERT_NULL(s);
        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "template uses unknown variable NO_SUCH_VAR"));
        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "template is not valid JSON"));
        remove_dir(dir);
}

static const cJSON *pod_spec(const DesiredObject *o) {
        return cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o->body, "spec"), "template"), "spec");
}

TEST(json_variables_render_as_values) {
        _cleanup_(desired_set_freep) DesiredSet *with =
                RENDER(BASE_KEYS, "BROWSER_ENABLED=true", "SANDBOX_ENABLED=true", "COTURN_NODE_SELECTOR=a=1,b=2",
                       "IMAGE_PULL_SECRET=pull", "SANDBOX_NODE_SELECTOR=pool=sb");
        _cleanup_(desired_set_freep) DesiredSet *without = RENDER(BASE_KEYS, "BROWSER_ENABLED=true", "SANDBOX_ENABLED=true");
        const cJSON *pod = pod_spec(find(with, "Deployment", "coturn"));
        _cleanup_free_ char *sel = cJSON_PrintUnformatted(cJSON_GetObjectItem(pod, "nodeSelector"));
        _cleanup_free_ char *tol = cJSON_PrintUnformatted(cJSON_GetObjectItem(pod, "tolerations"));
        _cleanup_free_ char *pull = cJSON_PrintUnformatted(cJSON_GetObjectItem(pod, "imagePullSecrets"));
        _cleanup_free_ char *wsel =
                cJSON_PrintUnformatted(cJSON_GetObjectItem(pod_spec(find(with, "DaemonSet", "sandbox-image-warmer")), "nodeSelector"));

        ASSERT_STREQ(sel, "{\"a\":\"1\",\"b\":\"2\"}");
        ASSERT_STREQ(tol, "[{\"operator\":\"Exists\"}]");
        ASSERT_STREQ(pull, "[{\"name\":\"pull\"}]");
        ASSERT_STREQ(wsel, "{\"pool\":\"sb\"}");
        pod = pod_spec(find(without, "Deployment", "coturn"));
        ASSERT_NULL(cJSON_GetObjectItem(pod, "nodeSelector"));
        ASSERT_NULL(cJSON_GetObjectItem(pod, "tolerations"));
        ASSERT_NULL(cJSON_GetObjectItem(pod, "imagePullSecrets"));
        ASSERT_NULL(cJSON_GetObjectItem(pod_spec(find(without, "DaemonSet", "sandbox-image-warmer")), "nodeSelector"));
}

static char *make_dir(void);
static void write_text(const char *dir, const char *name, const char *text);
static void remove_dir(const char *dir);

/* Renders the one template text with keys; returns template_render's result. */
static int render_text(const char *text, const char *const *keys, DesiredSet **ret, DiagList *d) {
        _cleanup_(config_freep) Config *c = config_from_strv(keys, d);
        _cleanup_free_ char *dir = make_dir();
        int r;

        write_text(dir, "t.json", text);
        TemplateDirs o = { .dir = dir, .override_dir = "/nonexistent" };
        r = template_render(c, &o, ret, d);
        remove_dir(dir);
        return r;
}

TEST(json_variable_inside_a_string_is_an_error) {
        static const char *const keys[] = { BASE_KEYS, "BROWSER_ENABLED=true", "COTURN_NODE_SELECTOR=a=1", NULL };
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        DesiredSet *s = NULL;

        ASSERT_EQ(render_text("{\"module\":\"browser\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                              "\"metadata\":{\"name\":\"x\"},\"data\":{\"k\":\"sel=${COTURN_NODE_SELECTOR_MAP}\"}}}",
                              keys, &s, &d),
                  -EINVAL);
        ASSERT_NULL(s);
        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "COTURN_NODE_SELECTOR_MAP holds JSON"));
}

TEST(template_owned_by_several_modules) {
        static const char *const br[] = { BASE_KEYS, "BROWSER_ENABLED=true", "SANDBOX_ENABLED=false", NULL };
        static const char *const off[] = { BASE_KEYS, "BROWSER_ENABLED=false", "SANDBOX_ENABLED=false", NULL };
        static const char *const text = "{\"module\":[\"sandbox\",\"browser\"],\"object\":{\"apiVersion\":\"v1\","
                                        "\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"shared\"}}}";
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(desired_set_freep) DesiredSet *on = NULL, *none = NULL;
        DesiredSet *bad = NULL;

        ASSERT_OK(render_text(text, br, &on, &d));
        ASSERT_EQ(on->n_objects, 1);
        ASSERT_EQ(on->objects[0].module, MODULE_BROWSER); /* shown under the owner that is on */
        ASSERT_STREQ(on->objects[0].modules, "sandbox,browser");
        ASSERT_OK(render_text(text, off, &none, &d));
        ASSERT_EQ(none->n_objects, 0);
        ASSERT_EQ(render_text("{\"module\":[\"sandbox\",\"nope\"],\"object\":{}}", br, &bad, &d), -EINVAL);
        ASSERT_EQ(render_text("{\"module\":[],\"object\":{}}", br, &bad, &d), -EINVAL);
        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "template needs a \"module\""));
}

/* install.sh writes both module Secrets with whatever the keys hold; a key
 * that exists with an empty value lets a pod start where a missing key
 * would stop it. */
TEST(secret_values_stay_when_empty) {
        _cleanup_(desired_set_freep) DesiredSet *s =
                RENDER("NAP_HOST=203.0.113.7", "BROWSER_ENABLED=true", "SANDBOX_ENABLED=false",
                       "BROWSER_JWT_SECRET=browser-jwt-0123456789abcdef0123456789abcdef",
                       "TURN_AUTH_SECRET=turn-secret-0123456789abcdef0123456789abcdef", "TURN_HOST=203.0.113.8",
                       "SANDBOX_JWT_SECRET=");
        const cJSON *data = cJSON_GetObjectItem(find(s, "Secret", "nap-sandbox-secret")->body, "data");

        ASSERT_STREQ(cJSON_GetObjectItem(data, "JWT_SECRET")->valuestring, "");
        ASSERT_STREQ(cJSON_GetObjectItem(data, "SERVICE_KEY")->valuestring, "");
}

/* The control plane's nap-cp gets the resolved public URLs, always, and
 * nothing else: no labels, no annotation, no other field of the platform's. */
TEST(partial_control_plane_urls) {
        _cleanup_(desired_set_freep) DesiredSet *off = RENDER(BASE_KEYS, "SANDBOX_ENABLED=false", "APP_PREFIX=acme",
                                                              "PLATFORM_IMAGE_PREFIX=registry.test/acme",
                                                              "BROWSER_PUBLIC_URL=https://br.example.com/");
        const DesiredObject *o = find(off, "Deployment", "acme-cp");
        _cleanup_free_ char *canonical = NULL;

        ASSERT_TRUE(o && o->partial);
        ASSERT_STREQ(o->modules, PARTIAL_MODULE);
        ASSERT_STREQ(o->namespace, "nap");
        ASSERT_STREQ(env_value(o, "WEB_PUBLIC_URL"), "http://203.0.113.7:30080");
        ASSERT_STREQ(env_value(o, "SANDBOX_PUBLIC_URL"), "http://203.0.113.7:30086");
        ASSERT_STREQ(env_value(o, "BROWSER_PUBLIC_URL"), "https://br.example.com");
        canonical = json_canonical(o->body);
        ASSERT_STREQ(canonical,
                     "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"acme-cp\","
                     "\"namespace\":\"nap\"},\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"env\":[{\"name\":"
                     "\"BROWSER_PUBLIC_URL\",\"value\":\"https://br.example.com\"},{\"name\":"
                     "\"SANDBOX_PUBLIC_URL\",\"value\":\"http://203.0.113.7:30086\"},{\"name\":\"WEB_PUBLIC_URL\","
                     "\"value\":\"http://203.0.113.7:30080\"}],\"name\":\"control-plane\"}]}}}}");

        /* no NAP_HOST, so no sandbox URL: nap-cp is left alone rather than given an empty one */
        _cleanup_(desired_set_freep) DesiredSet *empty = RENDER("SANDBOX_ENABLED=false",
                                                                "BROWSER_PUBLIC_URL=https://br.example.com");
        ASSERT_EQ(empty->n_objects, 0);
        /* the same for the OAuth issuer, WEB_PUBLIC_URL */
        _cleanup_(desired_set_freep) DesiredSet *no_web = RENDER("SANDBOX_ENABLED=false",
                                                                 "BROWSER_PUBLIC_URL=https://br.example.com",
                                                                 "SANDBOX_PUBLIC_URL=https://sb.example.com");
        ASSERT_EQ(no_web->n_objects, 0);
        _cleanup_(desired_set_freep) DesiredSet *urls = RENDER("SANDBOX_ENABLED=false",
                                                               "BROWSER_PUBLIC_URL=https://br.example.com",
                                                               "SANDBOX_PUBLIC_URL=https://sb.example.com",
                                                               "WEB_PUBLIC_URL=https://nap.example.com");
        o = find(urls, "Deployment", "nap-cp");
        ASSERT_TRUE(o);
        ASSERT_STREQ(env_value(o, "WEB_PUBLIC_URL"), "https://nap.example.com");
}

/* "partial" and the module "core" go together, and never with an oauth client. */
TEST(partial_template_errors) {
        static const char *const keys[] = { BASE_KEYS, "SANDBOX_ENABLED=true", NULL };
        static const char *const bad[] = {
                "{\"module\":\"sandbox\",\"partial\":true,\"object\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                "\"metadata\":{\"name\":\"x\"}}}",
                "{\"module\":\"core\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                "\"metadata\":{\"name\":\"x\"}}}",
                "{\"module\":\"core\",\"partial\":true,\"oauthClient\":{\"id\":\"x\",\"name\":\"x\","
                "\"redirect_uri\":\"http://x\"}}",
        };
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) Config *c = config_from_strv(keys, &d);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(diag_list_clear) DiagList e = { 0 };
                _cleanup_free_ char *dir = make_dir();
                DesiredSet *s = NULL;
                write_text(dir, "p.json", bad[i]);
                TemplateDirs o = { .dir = dir, .override_dir = "/nonexistent" };
                ASSERT_EQ(template_render(c, &o, &s, &e), -EINVAL);
                ASSERT_NULL(s);
                ASSERT_TRUE(diags_mention(&e, DIAG_ERROR, i < 2 ? "template has" : "template needs an"));
                remove_dir(dir);
        }
}

/* The registry login (issue 22): the Secret only with a complete login and
 * made once (createOnly), the ServiceAccount's entry only with a pull
 * secret (listEntries); the two kinds refused where they make no sense. */
TEST(registry_login_objects) {
        _cleanup_(desired_set_freep) DesiredSet *none = RENDER(BASE_KEYS, "SANDBOX_ENABLED=true");
        _cleanup_(desired_set_freep) DesiredSet *named = RENDER(BASE_KEYS, "SANDBOX_ENABLED=false",
                                                                "IMAGE_PULL_SECRET=mirror-pull");
        _cleanup_(desired_set_freep) DesiredSet *login =
                RENDER(BASE_KEYS, "SANDBOX_ENABLED=false", "REGISTRY_SERVER=registry.example.com",
                       "REGISTRY_USERNAME=robot", "REGISTRY_PASSWORD=hunter2-hunter2");
        const DesiredObject *sa, *sec;

        ASSERT_NULL(find(none, "ServiceAccount", "default"));
        ASSERT_NULL(find(none, "Secret", "regcred"));
        /* a name without a login: the entry, no Secret to make (the operator's) */
        sa = find(named, "ServiceAccount", "default");
        ASSERT_TRUE(sa && sa->partial && sa->list_entries && streq(sa->list_entries, "imagePullSecrets"));
        ASSERT_NULL(find(named, "Secret", "mirror-pull"));
        /* a login, whatever the modules: the Secret, made once, and the entry */
        sec = find(login, "Secret", "regcred");
        ASSERT_TRUE(sec && sec->create_only && !sec->partial && sec->holds_secrets);
        ASSERT_STREQ(sec->modules, PARTIAL_MODULE);
        ASSERT_STREQ(json_string(sec->body, "type"), "kubernetes.io/dockerconfigjson");
        ASSERT_TRUE(find(login, "ServiceAccount", "default") != NULL);

        static const char *const keys[] = { BASE_KEYS, "IMAGE_PULL_SECRET=x", NULL };
        static const char *const bad[] = {
                /* createOnly on a partial object, listEntries on an object of a module,
                 * listEntries naming what is not a list */
                "{\"module\":\"core\",\"partial\":true,\"createOnly\":true,\"object\":{\"apiVersion\":\"v1\","
                "\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}}",
                "{\"module\":\"sandbox\",\"listEntries\":\"items\",\"object\":{\"apiVersion\":\"v1\","
                "\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"},\"items\":[]}}",
                "{\"module\":\"core\",\"partial\":true,\"listEntries\":\"items\",\"object\":{\"apiVersion\":\"v1\","
                "\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"},\"items\":\"${IMAGE_PULL_SECRET}\"}}",
        };
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) Config *c = config_from_strv(keys, &d);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(diag_list_clear) DiagList e = { 0 };
                _cleanup_free_ char *dir = make_dir();
                DesiredSet *s = NULL;
                write_text(dir, "p.json", bad[i]);
                TemplateDirs o = { .dir = dir, .override_dir = "/nonexistent" };
                ASSERT_EQ(template_render(c, &o, &s, &e), -EINVAL);
                ASSERT_NULL(s);
                ASSERT_TRUE(diags_mention(&e, DIAG_ERROR, i < 2 ? "\"createOnly\" or \"listEntries\"" : "not a list"));
                remove_dir(dir);
        }
}

/* ---- issue 14: the keyed digest, $( in env values, placeholder errors ---- */

static void sha256_hex(const char *s, char out[65]) {
        unsigned char d[32];
        unsigned n = 0;
        EVP_Digest(s, strlen(s), d, &n, EVP_sha256(), NULL);
        hex_encode(d, 32, out);
}

static char *b64(const char *s) {
        char *out = malloc(4 * ((strlen(s) + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *) out, (const unsigned char *) s, (int) strlen(s));
        return out;
}

/* Every ordered selection of forms (plain, base64, "secret/key=base64")
 * of the n values, joined by "", "\n" or with a "\n" after each: its
 * SHA-256 is not the annotation. */
static unsigned no_unkeyed_match(const char *ann, const char *const forms[][3], size_t n, size_t depth, size_t used,
                                 char *acc) {
        static const char *const seps[] = { "", "\n" };
        unsigned tried = 0;
        char h[65];

        for (size_t i = 0; i < n; i++) {
                if (used & (1u << i))
                        continue;
                for (size_t f = 0; f < 3; f++)
                        for (size_t sp = 0; sp < ELEMENTSOF(seps); sp++) {
                                size_t len = strlen(acc);
                                strcat(acc, forms[i][f]);
                                strcat(acc, seps[sp]);
                                sha256_hex(acc, h);
                                if (streq(h, ann))
                                        TEST_FAIL("the annotation is the SHA-256 of \"%s\"", acc);
                                tried++;
                                if (depth + 1 < n)
                                        tried += no_unkeyed_match(ann, forms, n, depth + 1, used | (1u << i), acc);
                                acc[len] = 0;
                        }
        }
        return tried;
}

TEST(digest_is_keyed) {
        _cleanup_(desired_set_freep) DesiredSet *s = RENDER(BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true");
        static const unsigned char k1[32] = "first key of thirty-two bytes...", k2[32] = "second key of thirty-two bytes..";
        const DesiredObject *br = find(s, "Deployment", "nap-browser");
        const char *vals[][2] = { { "nap-browser-secret/JWT_SECRET=", "browser-jwt-0123456789abcdef0123456789abcdef" },
                                  { "nap-browser-secret/TURN_AUTH_SECRET=", "turn-secret-0123456789abcdef0123456789abcdef" },
                                  { "nap-sandbox-secret/SERVICE_KEY=", "service-key-0123456789abcdef0123456789abcdef" } };
        char *forms[3][3], input[1024] = "", want[65], first[65], acc[4096] = "";
        unsigned char md[32];
        unsigned mdn = 0;

        /* the input: the consumed values' lines, sorted, as template.h says */
        for (size_t i = 0; i < 3; i++) {
                forms[i][0] = strdup(vals[i][1]);
                forms[i][1] = b64(vals[i][1]);
                ASSERT_TRUE(asprintf(&forms[i][2], "%s%s", vals[i][0], forms[i][1]) > 0);
                strcat(input, forms[i][2]);
                strcat(input, "\n");
        }
        ASSERT_STREQ(br->secret_digest_input, input);
        ASSERT_OK(template_seal_secret_digests(s, k1, sizeof k1));
        HMAC(EVP_sha256(), k1, sizeof k1, (const unsigned char *) input, strlen(input), md, &mdn);
        hex_encode(md, 32, want);
        ASSERT_STREQ(sealed(br), want);
        snprintf(first, sizeof first, "%s", sealed(br));
        printf("  %u unkeyed SHA-256 candidates, none equal\n",
               no_unkeyed_match(first, (const char *const(*)[3]) forms, 3, 0, 0, acc));
        /* another key, another value; the same key, the same value again */
        ASSERT_OK(template_seal_secret_digests(s, k2, sizeof k2));
        ASSERT_TRUE(!streq(sealed(br), first) && strlen(sealed(br)) == 64);
        ASSERT_OK(template_seal_secret_digests(s, k1, sizeof k1));
        ASSERT_STREQ(sealed(br), first);
        for (size_t i = 0; i < 3; i++)
                for (size_t f = 0; f < 3; f++)
                        free(forms[i][f]);
}

/* A workload taken over from install.sh (its pod template without the
 * digest) keeps its pod template: the digest goes on the object itself,
 * until it differs from what was recorded (a secret it reads changed). */
TEST(digest_held_back_at_adoption) {
        _cleanup_(desired_set_freep) DesiredSet *s = RENDER(BASE_KEYS, "BROWSER_ENABLED=true");
        static const unsigned char key[32] = "a key of thirty-two bytes, fixed";
        const DesiredObject *coturn = find(s, "Deployment", "coturn");
        _cleanup_(cJSON_Deletep) cJSON *held = NULL, *installsh = NULL, *other = NULL;
        const cJSON *tmpl_md;
        char value[65];

        /* install.sh patches coturn's placement; the Service is applied alone */
        ASSERT_TRUE(coturn->installer_patches && !find(s, "Service", "coturn")->installer_patches);
        /* the stand-in is never recorded anywhere */
        ASSERT_TRUE(!template_secret_digest_held(coturn->body, SECRET_DIGEST_PENDING, NULL, false));
        ASSERT_OK(template_seal_secret_digests(s, key, sizeof key));
        snprintf(value, sizeof value, "%s", sealed(coturn));
        ASSERT_STREQ(template_secret_digest_value(coturn->body), value);

        ASSERT_OK(template_secret_digest_hold(coturn->body, &held));
        tmpl_md = JSON_GET(held, "spec", "template", "metadata");
        ASSERT_NULL(cJSON_GetObjectItem(tmpl_md, "annotations")); /* none left: no empty map applied */
        ASSERT_STREQ(json_string(JSON_GET(held, "metadata", "annotations"), SECRET_DIGEST_ADOPTED_ANNOTATION), value);
        ASSERT_STREQ(template_secret_digest_value(held), value);
        /* the pod spec is untouched */
        ASSERT_TRUE(cJSON_Compare(JSON_GET(held, "spec", "template", "spec"),
                                  JSON_GET(coturn->body, "spec", "template", "spec"), true));

        /* the live object decides when it was read */
        installsh = cJSON_Parse("{\"metadata\":{\"labels\":{\"app\":\"coturn\"}},"
                                "\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"app\":\"coturn\"}}}}}");
        ASSERT_TRUE(installsh);
        ASSERT_TRUE(template_secret_digest_held(coturn->body, NULL, installsh, true));  /* taken over now */
        ASSERT_TRUE(!template_secret_digest_held(coturn->body, NULL, NULL, true));      /* created */
        ASSERT_TRUE(!template_secret_digest_held(coturn->body, value, coturn->body, true)); /* rolled before */
        ASSERT_TRUE(template_secret_digest_held(coturn->body, NULL, held, true));       /* as recorded on it */
        other = cJSON_Duplicate(held, true);
        ASSERT_TRUE(other);
        cJSON_SetValuestring(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(other, "metadata"),
                                                                     "annotations"),
                                                 SECRET_DIGEST_ADOPTED_ANNOTATION), "0123");
        ASSERT_TRUE(!template_secret_digest_held(coturn->body, NULL, other, true));     /* a secret changed */
        /* else what the ledger recorded does */
        ASSERT_TRUE(template_secret_digest_held(coturn->body, value, NULL, false));
        ASSERT_TRUE(!template_secret_digest_held(coturn->body, "0123", NULL, false));
        ASSERT_TRUE(!template_secret_digest_held(coturn->body, NULL, NULL, false));
        /* an object without a digest is never held back */
        ASSERT_TRUE(!template_secret_digest_held(find(s, "Service", "coturn")->body, value, installsh, true));
}

/* Kubernetes' expansion of a container's env value, command and args, as
 * its documentation states it: "$(VAR_NAME)" becomes the variable's value
 * when it is defined and is left as it is otherwise; "$$" becomes "$", so
 * "$$(VAR_NAME)" is the literal "$(VAR_NAME)". Written here from that
 * description, not from the agent. */
static char *kubelet_expand(const char *s, const char *const *vars) {
        StrBuf b = { 0 };

        for (size_t i = 0; s[i];) {
                if (s[i] == '$' && s[i + 1] == '$') {
                        strbuf_putc(&b, '$');
                        i += 2;
                } else if (s[i] == '$' && s[i + 1] == '(' && strchr(s + i, ')')) {
                        size_t n = (size_t) (strchr(s + i, ')') - (s + i + 2));
                        const char *value = NULL;
                        for (const char *const *v = vars; *v; v += 2)
                                if (strlen(v[0]) == n && strncmp(v[0], s + i + 2, n) == 0)
                                        value = v[1];
                        if (value)
                                strbuf_puts(&b, value);
                        else
                                strbuf_putn(&b, s + i, n + 3);
                        i += n + 3;
                } else
                        strbuf_putc(&b, s[i++]);
        }
        return strbuf_steal(&b);
}

static void check_url_survives(const char *url) {
        static const char *const container_env[] = { "JWT_SECRET", "the-jwt-secret-in-clear", "PORT", "3006",
                                                      "POSTGRES_PASSWORD", "pg-password-in-clear", NULL };
        char kv[256];

        snprintf(kv, sizeof kv, "SANDBOX_PUBLIC_URL=%s", url);
        _cleanup_(desired_set_freep) DesiredSet *s = RENDER(BASE_KEYS, "SANDBOX_ENABLED=true", kv);
        const char *env = env_value(find(s, "Deployment", "nap-sandbox"), "SANDBOX_SERVICE_URL");
        const char *uri = find_client(s, "sandbox-service")->redirect_uri;
        _cleanup_free_ char *expanded = kubelet_expand(env, container_env);
        _cleanup_free_ char *base = strndup(uri, strlen(uri) - strlen("/api/auth/callback"));

        printf("  %s → env %s → after expansion %s\n", url, env, expanded);
        ASSERT_STREQ(expanded, url);
        ASSERT_STREQ(expanded, base);
        ASSERT_NULL(strstr(expanded, "in-clear"));
}

TEST(dollar_paren_survives_kubelet_expansion) {
        check_url_survives("https://sandbox.example.com/p$(JWT_SECRET)");
        check_url_survives("https://sandbox.example.com/a$$(PORT)b$x$");
        check_url_survives("https://sandbox.example.com/$(UNDEFINED)/$(POSTGRES_PASSWORD");
        /* any value in an env entry, and install.sh's own $(POSTGRES_PASSWORD)
         * reference in the template stays a reference */
        _cleanup_(desired_set_freep) DesiredSet *s =
                RENDER(BASE_KEYS, "SANDBOX_ENABLED=true", "OPENSANDBOX_URL=http://os.example.com/$(JWT_SECRET)");
        const DesiredObject *d = find(s, "Deployment", "nap-sandbox");
        ASSERT_STREQ(env_value(d, "OPENSANDBOX_URL"), "http://os.example.com/$$(JWT_SECRET)");
        ASSERT_STREQ(env_value(d, "DATABASE_URL"), "postgresql://nap:$(POSTGRES_PASSWORD)@nap-pg-rw:5432/nap");
}

/* A placeholder the fuzzer found: an empty or over-long name was refused
 * without a word, so `check` said "0 error(s)". */
TEST(placeholder_errors_are_reported) {
        static const char *const keys[] = { BASE_KEYS, "SANDBOX_ENABLED=true", NULL };
        static const char *const bad[] = { "${}", "${|base64}", "x${|str}y" };
        char text[1024], name[300];

        memset(name, 'A', 200);
        name[200] = 0;
        for (size_t i = 0; i < ELEMENTSOF(bad) + 1; i++) {
                _cleanup_(diag_list_clear) DiagList d = { 0 };
                char value[256];
                DesiredSet *s = NULL;
                snprintf(value, sizeof value, "%s", i < ELEMENTSOF(bad) ? bad[i] : "");
                if (i == ELEMENTSOF(bad))
                        snprintf(value, sizeof value, "${%.200s}", name);
                snprintf(text, sizeof text, "{\"module\":\"sandbox\",\"object\":{\"apiVersion\":\"v1\",\"kind\":"
                         "\"ConfigMap\",\"metadata\":{\"name\":\"x\"},\"data\":{\"k\":\"%s\"}}}", value);
                ASSERT_EQ(render_text(text, keys, &s, &d), -EINVAL);
                ASSERT_NULL(s);
                ASSERT_TRUE(diag_count(&d, DIAG_ERROR) == 1);
                ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, i < ELEMENTSOF(bad) ? "empty variable name"
                                                                              : "variable name too long"));
        }
}

TEST_MAIN(T(modules_select_objects), T(apply_order), T(service_url_equals_redirect_uri), T(trailing_slash_nowhere),
          T(node_port_typed_and_dropped), T(every_port_has_protocol), T(secret_change_rolls_only_consumers),
          T(digest_annotation_present), T(canonical_is_sorted_and_stable), T(redacted_output_has_no_secret),
          T(override_dir_replaces_file), T(template_errors), T(json_variables_render_as_values),
          T(json_variable_inside_a_string_is_an_error), T(template_owned_by_several_modules),
          T(secret_values_stay_when_empty), T(partial_control_plane_urls), T(partial_template_errors), T(registry_login_objects),
          T(digest_is_keyed), T(digest_held_back_at_adoption), T(dollar_paren_survives_kubelet_expansion),
          T(placeholder_errors_are_reported))
