/* SPDX-License-Identifier: Apache-2.0 */
#include "config-util.h"
#include "config-check.h"

#define CONFIG(diags, ...) config_from_strv((const char *const[]) { __VA_ARGS__, NULL }, (diags))

TEST(defaults) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c = CONFIG(&d, "UNRELATED=1");

        ASSERT_EQ(diag_has_errors(&d), 0);
        EXPECT(c, "NAMESPACE=nap", "PLATFORM_IMAGE_PREFIX=ghcr.io/neutree-ai/agent-platform/nap",
               "SANDBOX_IMAGE=ghcr.io/neutree-ai/agent-platform/nap-sandbox:latest",
               "OPENSANDBOX_URL=http://opensandbox-server.nap.svc:80", "SERVICE_TYPE=NodePort",
               "SANDBOX_SERVICE_NODE_PORT=30086", "UNRELATED=1"); /* unknown keys are kept */
        ASSERT_EQ(config_module_toggle(c, MODULE_SANDBOX), TOGGLE_ABSENT);
        ASSERT_EQ(config_module_enabled(c, MODULE_SANDBOX), 0);
}

TEST(defaults_follow_earlier_keys) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c = CONFIG(&d, "NAMESPACE=prod", "REGISTRY=reg.local:5000/x",
                                                   "APP_PREFIX=acme", "IMAGE_TAG=v1.2");

        EXPECT(c, "PLATFORM_IMAGE_PREFIX=reg.local:5000/x/acme",
               "BROWSER_SERVICE_IMAGE=reg.local:5000/x/acme-browser:v1.2",
               "OPENSANDBOX_URL=http://opensandbox-server.prod.svc:80", "NAP_URL=http://acme-cp:3000");
}

TEST(service_urls_and_redirects) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true", "BROWSER_NODE_PORT=31000",
                       "SANDBOX_PUBLIC_URL=https://sb.example.com/base");

        ASSERT_EQ(diag_has_errors(&d), 0);
        EXPECT(c, "WEB_PUBLIC_URL=http://203.0.113.7:30080", "SANDBOX_SERVICE_URL=https://sb.example.com/base",
               "SANDBOX_REDIRECT_URI=https://sb.example.com/base/api/auth/callback",
               "BROWSER_SERVICE_URL=http://203.0.113.7:31000",
               "BROWSER_REDIRECT_URI=http://203.0.113.7:31000/api/auth/callback");
}

TEST(trailing_slash_stripped_with_warning) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, BASE_KEYS, "SANDBOX_ENABLED=true", "SANDBOX_PUBLIC_URL=https://sb.example.com//");

        ASSERT_EQ(diag_has_errors(&d), 0);
        ASSERT_TRUE(diags_mention(&d, DIAG_WARNING, "SANDBOX_PUBLIC_URL ends with '/'"));
        EXPECT(c, "SANDBOX_SERVICE_URL=https://sb.example.com",
               "SANDBOX_REDIRECT_URI=https://sb.example.com/api/auth/callback");
}

TEST(toggles) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c = CONFIG(&d, BASE_KEYS, "SANDBOX_ENABLED=false", "BROWSER_ENABLED=true");

        ASSERT_EQ(config_module_toggle(c, MODULE_SANDBOX), TOGGLE_OFF);
        ASSERT_EQ(config_module_toggle(c, MODULE_BROWSER), TOGGLE_ON);
        ASSERT_EQ(config_module_toggle(c, MODULE_TURN), TOGGLE_ON);
}

TEST(bad_bool) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c = CONFIG(&d, "SANDBOX_ENABLED=True");

        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "SANDBOX_ENABLED=\"True\" is not true or false"));
        ASSERT_EQ(d.items[0].line, 1);
        ASSERT_EQ(d.items[0].col, 17);
}

TEST(required_secrets_and_placeholders) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, "TOS_HOST=h.example.com", "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true",
                       "SANDBOX_JWT_SECRET=change-me-0123456789abcdef0123456789abcdef", "SANDBOX_SERVICE_KEY=tooshort",
                       "TURN_AUTH_SECRET=");

        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "SANDBOX_JWT_SECRET is still a change-me placeholder"));
        /* short is a warning (install.sh checks no length), a placeholder an error */
        ASSERT_TRUE(diags_mention(&d, DIAG_WARNING, "SANDBOX_SERVICE_KEY is short (8 characters"));
        ASSERT_TRUE(!diags_mention(&d, DIAG_ERROR, "SANDBOX_SERVICE_KEY"));
        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "BROWSER_JWT_SECRET is required when browser is enabled"));
        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "TURN_AUTH_SECRET is required when browser is enabled"));
        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "TURN_HOST is required when browser is enabled"));
        /* No message carries a secret value. */
        for (size_t i = 0; i < d.n; i++) {
                ASSERT_NULL(strstr(d.items[i].message, "tooshort"));
                ASSERT_NULL(strstr(d.items[i].message, "0123456789abcdef"));
        }
}

TEST(disabled_module_needs_nothing) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c = CONFIG(&d, "SANDBOX_ENABLED=false", "SANDBOX_JWT_SECRET=x");

        ASSERT_EQ(diag_has_errors(&d), 0);
}

TEST(node_ports) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true", "BROWSER_NODE_PORT=30086",
                       "TOS_NODE_PORT=29999");

        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "SANDBOX_NODE_PORT and BROWSER_NODE_PORT are both 30086"));
        /* the canonical name in the message, the older name's line as its place */
        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "NAP_NODE_PORT=\"29999\" is not a NodePort (30000-32767)"));
}

/* 030086 would reach the Service as 30086 but stay in the URLs as written:
 * refused at the value, as every port with a leading zero. */
TEST(port_leading_zero) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true", "SANDBOX_NODE_PORT=030086",
                       "TURN_PORT=03478", "BROWSER_NODE_PORT=30085");

        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "SANDBOX_NODE_PORT=\"030086\" is not a NodePort: it has a leading zero"));
        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "TURN_PORT=\"03478\" is not a port: it has a leading zero"));
        ASSERT_TRUE(!diags_mention(&d, DIAG_ERROR, "BROWSER_NODE_PORT"));
        const Diag *e = diag_first_error(&d);
        ASSERT_EQ(e->line, 9);
        ASSERT_EQ(e->col, 19);
}

/* An image that starts with '-' reads as an option, one with whitespace as
 * two words: refused in every image key, at the value. */
TEST(image_references) {
        static const char *const keys[] = { "COTURN_IMAGE", "REGISTRY", "PLATFORM_IMAGE_PREFIX", "RUNTIME_NODE_IMAGE",
                                             "RUNTIME_PYTHON_IMAGE", "RUNTIME_GOLANG_IMAGE", "PAUSE_IMAGE" };
        static const struct {
                const char *value, *why;
        } bad[] = {
                { "--privileged", "it starts with '-'" },
                { "-v", "it starts with '-'" },
                { "coturn/coturn:4.6 --privileged", "it holds whitespace" },
                { "coturn/coturn:4.6\t", "it holds whitespace" },
                { ".hidden/x:1", "it must start with a letter or a digit" },
        };

        for (size_t k = 0; k < ELEMENTSOF(keys); k++)
                for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                        _cleanup_(diag_list_clear) DiagList d = { 0 };
                        _cleanup_free_ char *kv = NULL;
                        ASSERT_TRUE(asprintf(&kv, "%s=%s", keys[k], bad[i].value) > 0);
                        _cleanup_(config_freep) _unused_ Config *c =
                                CONFIG(&d, BASE_KEYS, "BROWSER_ENABLED=true", kv);
                        const Diag *e = diag_first_error(&d);
                        if (!e || !strstr(e->message, keys[k]) || !strstr(e->message, bad[i].why) || e->line != 8 ||
                            e->col != strlen(keys[k]) + 2)
                                TEST_FAIL("%s: %s", kv, e ? e->message : "accepted");
                }

        _cleanup_(diag_list_clear) DiagList ok = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&ok, BASE_KEYS, "BROWSER_ENABLED=true", "COTURN_IMAGE=registry.local:5000/coturn/coturn:4.6-alpine",
                       "PAUSE_IMAGE=registry.k8s.io/pause@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        ASSERT_EQ(diag_has_errors(&ok), 0);
}

TEST(node_port_collision_ignored_for_disabled_module) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=false", "BROWSER_NODE_PORT=30086");

        ASSERT_EQ(diag_has_errors(&d), 0);
}

TEST(external_ingress) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, BASE_KEYS, "SANDBOX_ENABLED=true", "INGRESS_MODE=external");

        ASSERT_EQ(diag_has_errors(&d), 0);
        ASSERT_STREQ(config_get(c, "SERVICE_TYPE"), "ClusterIP");
        ASSERT_NULL(config_get(c, "SANDBOX_SERVICE_NODE_PORT"));
        ASSERT_TRUE(diags_mention(&d, DIAG_WARNING, "400 invalid_redirect_uri"));
}

TEST(host_alias) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c = CONFIG(&d, "TOS_HOST=a.example.com", "NAP_HOST=b.example.com");

        ASSERT_STREQ(config_get(c, "NAP_HOST"), "b.example.com");
        ASSERT_NULL(config_var(c, "TOS_HOST")); /* one name in `vars` and output */
        ASSERT_TRUE(diags_mention(&d, DIAG_WARNING, "TOS_HOST and NAP_HOST are both set and differ; using NAP_HOST"));
}

TEST(turn_host_hostname_warns) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c = CONFIG(&d, BASE_KEYS, "BROWSER_ENABLED=true", "TURN_HOST=turn.example");

        ASSERT_EQ(diag_has_errors(&d), 0);
        ASSERT_TRUE(diags_mention(&d, DIAG_WARNING, "TURN_HOST=\"turn.example\" is a hostname"));
}

TEST(urls) {
        ASSERT_TRUE(is_http_url("http://h:1/p?q=1&r=2#f"));
        ASSERT_TRUE(is_http_url("https://[2001:db8::1]:8443/x"));
        ASSERT_TRUE(!is_http_url("ftp://h"));
        ASSERT_TRUE(!is_http_url("http://"));
        ASSERT_TRUE(!is_http_url("http://h:0/"));
        ASSERT_TRUE(!is_http_url("http://h:70000/"));
        ASSERT_TRUE(!is_http_url("http://h/a b"));
        ASSERT_TRUE(!is_http_url("http://h/\"x"));
}

TEST(secret_names) {
        ASSERT_TRUE(config_key_is_secret("SANDBOX_JWT_SECRET"));
        ASSERT_TRUE(config_key_is_secret("PG_PASSWORD"));
        ASSERT_TRUE(config_key_is_secret("CREDENTIAL_ENCRYPTION_KEY"));
        ASSERT_TRUE(config_key_is_secret("DATABASE_URL"));
        ASSERT_TRUE(!config_key_is_secret("SANDBOX_NODE_PORT"));
        ASSERT_TRUE(!config_key_is_secret("TURN_HOST"));
}

/* docs/platform.md §1: every key with a default reads as ${KEY:-default},
 * so an empty line takes the default exactly like a missing one. The
 * defaults here are written from that page, not taken from the code. */
static const char *const empty_defaults[][2] = {
        { "NAMESPACE", "nap" },
        { "APP_PREFIX", "nap" },
        { "REGISTRY", "ghcr.io/neutree-ai/agent-platform" },
        { "IMAGE_TAG", "latest" },
        { "PLATFORM_IMAGE_PREFIX", "ghcr.io/neutree-ai/agent-platform/nap" },
        { "COTURN_IMAGE", "docker.io/coturn/coturn:4.6" },
        { "RUNTIME_NODE_IMAGE", "docker.io/library/node:22-bookworm" },
        { "RUNTIME_PYTHON_IMAGE", "docker.io/library/python:3.12-bookworm" },
        { "RUNTIME_GOLANG_IMAGE", "docker.io/library/golang:1.23" },
        { "PAUSE_IMAGE", "registry.k8s.io/pause:3.9" },
        { "NAP_NODE_PORT", "30080" },
        { "WEB_PUBLIC_URL", "http://203.0.113.7:30080" },
        { "INGRESS_MODE", "nodeport" },
        { "PG_USERNAME", "nap" },
        { "DB_NAME", "nap" },
        { "SANDBOX_ENABLED", "false" },
        { "SANDBOX_NODE_PORT", "30086" },
        { "OPENSANDBOX_URL", "http://opensandbox-server.nap.svc:80" },
        { "SANDBOX_PUBLIC_URL", "http://203.0.113.7:30086" },
        { "BROWSER_ENABLED", "false" },
        { "BROWSER_NODE_PORT", "30085" },
        { "TURN_PORT", "3478" },
        { "BROWSER_PUBLIC_URL", "http://203.0.113.7:30085" },
};

TEST(empty_means_default) {
        for (size_t i = 0; i < ELEMENTSOF(empty_defaults); i++) {
                _cleanup_(diag_list_clear) DiagList d = { 0 };
                char line[128];
                snprintf(line, sizeof line, "%s=", empty_defaults[i][0]);
                _cleanup_(config_freep) Config *c = CONFIG(&d, "NAP_HOST=203.0.113.7", line);
                const ConfigVar *v = config_var(c, empty_defaults[i][0]);

                if (d.n > 0)
                        TEST_FAIL("%s: unexpected diagnostic: %s", line, d.items[0].message);
                if (!v || !v->value || !streq(v->value, empty_defaults[i][1]))
                        TEST_FAIL("%s: \"%s\", expected \"%s\"", line, v && v->value ? v->value : "(null)",
                                  empty_defaults[i][1]);
                if (v->origin != VAR_FILE_EMPTY || v->line != 2)
                        TEST_FAIL("%s: `vars` would not say it came from an empty line", line);
        }
}

TEST(empty_means_default_in_derived_values) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true", "REGISTRY=", "IMAGE_TAG=",
                       "APP_PREFIX=", "PLATFORM_IMAGE_PREFIX=", "INGRESS_MODE=", "SANDBOX_NODE_PORT=",
                       "SANDBOX_PUBLIC_URL=", "WEB_PUBLIC_URL=", "TURN_PORT=");

        ASSERT_EQ(d.n, 0);
        EXPECT(c, "SANDBOX_IMAGE=ghcr.io/neutree-ai/agent-platform/nap-sandbox:latest",
               "CHROMIUM_IMAGE=ghcr.io/neutree-ai/agent-platform/chromium-headful:latest", "SERVICE_TYPE=NodePort",
               "SANDBOX_SERVICE_NODE_PORT=30086", "SANDBOX_REDIRECT_URI=http://203.0.113.7:30086/api/auth/callback",
               "WEB_PUBLIC_URL=http://203.0.113.7:30080");
}

TEST(empty_toggle_is_an_explicit_off) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c = CONFIG(&d, "SANDBOX_ENABLED=");

        ASSERT_EQ(d.n, 0);
        ASSERT_EQ(config_module_toggle(c, MODULE_SANDBOX), TOGGLE_OFF); /* pruning may go ahead */
        ASSERT_EQ(config_module_enabled(c, MODULE_SANDBOX), 0);
        ASSERT_EQ(config_module_toggle(c, MODULE_BROWSER), TOGGLE_ABSENT); /* only a missing line keeps */
}

TEST(toggle_words) {
        static const char *const bad[] = { "SANDBOX_ENABLED=yes", "SANDBOX_ENABLED=1", "SANDBOX_ENABLED=TRUE" };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(diag_list_clear) DiagList d = { 0 };
                _cleanup_(config_freep) _unused_ Config *c = CONFIG(&d, bad[i]);
                if (!diags_mention(&d, DIAG_ERROR, "is not true or false"))
                        TEST_FAIL("%s accepted", bad[i]);
        }
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c = CONFIG(&d, "BROWSER_ENABLED=false");
        ASSERT_EQ(config_module_toggle(c, MODULE_BROWSER), TOGGLE_OFF);
        ASSERT_EQ(config_module_toggle(c, MODULE_TURN), TOGGLE_OFF);
        ASSERT_EQ(config_module_toggle(c, MODULE_SANDBOX), TOGGLE_ABSENT);
}

TEST(older_host_names) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, "NAP_HOST=", "TOS_HOST=198.51.100.4", "TOS_NODE_PORT=30090", "SANDBOX_ENABLED=true",
                       "SANDBOX_JWT_SECRET=sandbox-jwt-0123456789abcdef0123456789abcdef",
                       "SANDBOX_SERVICE_KEY=service-key-0123456789abcdef0123456789abcdef");

        ASSERT_EQ(d.n, 0);
        ASSERT_STREQ(config_get(c, "NAP_HOST"), "198.51.100.4"); /* an empty new name does not hide the old */
        ASSERT_EQ(config_var(c, "NAP_HOST")->line, 2);
        EXPECT(c, "NAP_NODE_PORT=30090", "WEB_PUBLIC_URL=http://198.51.100.4:30090");
        ASSERT_NULL(config_var(c, "TOS_HOST"));
        ASSERT_NULL(config_var(c, "TOS_NODE_PORT"));
}

TEST(urls_need_a_host_only_when_used) {
        _cleanup_(diag_list_clear) DiagList off = { 0 }, on = { 0 }, urls = { 0 };
        _cleanup_(config_freep) _unused_ Config *a = CONFIG(&off, "NAP_HOST=", "SANDBOX_ENABLED=false");
        _cleanup_(config_freep) _unused_ Config *b =
                CONFIG(&on, "NAP_HOST=", "SANDBOX_ENABLED=true", "SANDBOX_PUBLIC_URL=",
                       "SANDBOX_JWT_SECRET=sandbox-jwt-0123456789abcdef0123456789abcdef",
                       "SANDBOX_SERVICE_KEY=service-key-0123456789abcdef0123456789abcdef");
        _cleanup_(config_freep) _unused_ Config *e =
                CONFIG(&urls, "SANDBOX_ENABLED=true", "INGRESS_MODE=external",
                       "SANDBOX_JWT_SECRET=sandbox-jwt-0123456789abcdef0123456789abcdef",
                       "SANDBOX_SERVICE_KEY=service-key-0123456789abcdef0123456789abcdef",
                       "WEB_PUBLIC_URL=https://nap.example.com", "SANDBOX_PUBLIC_URL=https://sb.example.com");

        ASSERT_EQ(diag_has_errors(&off), 0);
        ASSERT_NULL(config_get(a, "SANDBOX_PUBLIC_URL")); /* never "http://:30086" */
        ASSERT_NULL(config_get(a, "WEB_PUBLIC_URL"));
        ASSERT_TRUE(diags_mention(&on, DIAG_ERROR, "SANDBOX_PUBLIC_URL cannot be derived: NAP_HOST is empty"));
        ASSERT_TRUE(diags_mention(&on, DIAG_ERROR, "WEB_PUBLIC_URL cannot be derived: NAP_HOST is empty"));
        for (size_t i = 0; i < on.n; i++) /* located at the empty line when there is one */
                if (strstr(on.items[i].message, "SANDBOX_PUBLIC_URL cannot"))
                        ASSERT_EQ(on.items[i].line, 3);
        ASSERT_EQ(urls.n, 0);          /* external with every URL given: no host needed */
        ASSERT_STREQ(config_get(e, "SANDBOX_REDIRECT_URI"), "https://sb.example.com/api/auth/callback");
}

TEST(external_ingress_warns_per_missing_url) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true", "INGRESS_MODE=external",
                       "BROWSER_PUBLIC_URL=https://b.example.com", "WEB_PUBLIC_URL=");

        ASSERT_EQ(diag_has_errors(&d), 0);
        ASSERT_TRUE(diags_mention(&d, DIAG_WARNING, "INGRESS_MODE=external but WEB_PUBLIC_URL is empty"));
        ASSERT_TRUE(diags_mention(&d, DIAG_WARNING, "INGRESS_MODE=external but SANDBOX_PUBLIC_URL is empty"));
        ASSERT_TRUE(!diags_mention(&d, DIAG_WARNING, "BROWSER_PUBLIC_URL is empty"));
}

TEST(node_selectors) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true",
                       "COTURN_NODE_SELECTOR=kubernetes.io/hostname=node-a",
                       "SANDBOX_NODE_SELECTOR=pool=sandbox,zone=b,");

        ASSERT_EQ(d.n, 0);
        EXPECT(c, "COTURN_NODE_SELECTOR_MAP={\"kubernetes.io/hostname\":\"node-a\"}",
               "COTURN_TOLERATIONS=[{\"operator\":\"Exists\"}]",
               "SANDBOX_NODE_SELECTOR_MAP={\"pool\":\"sandbox\",\"zone\":\"b\"}");
        ASSERT_EQ(config_var(c, "COTURN_NODE_SELECTOR_MAP")->type, VAR_JSON);

        _cleanup_(diag_list_clear) DiagList none = { 0 };
        _cleanup_(config_freep) _unused_ Config *n = CONFIG(&none, BASE_KEYS, "BROWSER_ENABLED=true",
                                                   "COTURN_NODE_SELECTOR=", "SANDBOX_NODE_SELECTOR=");
        ASSERT_NULL(config_get(n, "COTURN_NODE_SELECTOR_MAP"));
        ASSERT_NULL(config_get(n, "COTURN_TOLERATIONS"));
        ASSERT_NULL(config_get(n, "SANDBOX_NODE_SELECTOR_MAP"));
}

TEST(node_selector_errors_located_at_the_value) {
        _cleanup_(diag_list_clear) DiagList d = { 0 }, off = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, BASE_KEYS, "BROWSER_ENABLED=true", "COTURN_NODE_SELECTOR=role=turn, zone=b");
        _cleanup_(config_freep) _unused_ Config *o =
                CONFIG(&off, BASE_KEYS, "BROWSER_ENABLED=false", "COTURN_NODE_SELECTOR=node-a");

        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "COTURN_NODE_SELECTOR: \" zone=b\" has no valid label key"));
        const Diag *e = diag_first_error(&d);
        ASSERT_EQ(e->line, 8);
        ASSERT_EQ(e->col, 22);
        ASSERT_EQ(diag_has_errors(&off), 0); /* nothing uses it while the browser is off */
}

TEST(node_selector_syntax) {
        static const struct {
                const char *in, *json;
        } ok[] = {
                { "a=b", "{\"a\":\"b\"}" },
                { "a=", "{\"a\":\"\"}" },
                { "a=b,", "{\"a\":\"b\"}" },
                { "a=1,a=2", "{\"a\":\"2\"}" },
                { "topology.kubernetes.io/zone=eu-1a,x_y=Z.9", "{\"topology.kubernetes.io/zone\":\"eu-1a\",\"x_y\":\"Z.9\"}" },
        };
        static const char *const bad[] = { "a", ",a=b", "a=b,,c=d", "a=b c", "=b", "a=b=c", "-a=b", "Bad.Prefix/a=b",
                                           "a=-b" };

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                _cleanup_free_ char *json = NULL, *problem = NULL;
                ASSERT_OK(node_selector_to_json(ok[i].in, &json, &problem));
                ASSERT_STREQ(json, ok[i].json);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *json = NULL, *problem = NULL;
                if (node_selector_to_json(bad[i], &json, &problem) != -EINVAL)
                        TEST_FAIL("\"%s\" accepted", bad[i]);
                ASSERT_TRUE(problem != NULL);
        }
        char *json = (char *) "unchanged", *problem = NULL;
        ASSERT_OK(node_selector_to_json("", &json, &problem));
        ASSERT_NULL(json);
}

TEST(pull_secret) {
        _cleanup_(diag_list_clear) DiagList d = { 0 }, half = { 0 }, no_server = { 0 };
        _cleanup_(config_freep) _unused_ Config *set = CONFIG(&d, "IMAGE_PULL_SECRET=mirror-pull");
        _cleanup_(config_freep) _unused_ Config *login =
                CONFIG(&d, "IMAGE_PULL_SECRET=", "REGISTRY_SERVER=registry.example.com", "REGISTRY_USERNAME=robot",
                       "REGISTRY_PASSWORD=hunter2-hunter2");
        _cleanup_(config_freep) _unused_ Config *none = CONFIG(&half, "IMAGE_PULL_SECRET=", "REGISTRY_USERNAME=robot");
        _cleanup_(config_freep) _unused_ Config *serverless =
                CONFIG(&no_server, "REGISTRY_USERNAME=robot", "REGISTRY_PASSWORD=hunter2-hunter2");

        ASSERT_EQ(d.n, 0);
        ASSERT_STREQ(config_get(set, "IMAGE_PULL_SECRETS"), "[{\"name\":\"mirror-pull\"}]");
        ASSERT_NULL(config_get(set, "REGISTRY_DOCKERCONFIGJSON")); /* no login: no Secret to make */
        /* install.sh's name for the Secret it makes from a registry login */
        EXPECT(login, "IMAGE_PULL_SECRET=regcred", "IMAGE_PULL_SECRETS=[{\"name\":\"regcred\"}]");
        /* .dockerconfigjson as `kubectl create secret docker-registry` writes it; "auth" is base64("robot:hunter2-hunter2") */
        EXPECT(login, "REGISTRY_DOCKERCONFIGJSON={\"auths\":{\"registry.example.com\":{\"username\":\"robot\","
                      "\"password\":\"hunter2-hunter2\",\"auth\":\"cm9ib3Q6aHVudGVyMi1odW50ZXIy\"}}}");
        ASSERT_TRUE(config_var(login, "REGISTRY_DOCKERCONFIGJSON")->secret);
        ASSERT_TRUE(config_key_is_secret("REGISTRY_PASSWORD"));
        ASSERT_TRUE(config_contains_secret(login, "x hunter2-hunter2 y"));
        /* half a login: none, with a warning (install.sh makes none either) */
        ASSERT_NULL(config_get(none, "IMAGE_PULL_SECRETS"));
        ASSERT_NULL(config_get(none, "REGISTRY_DOCKERCONFIGJSON"));
        ASSERT_TRUE(!diag_has_errors(&half) && diags_mention(&half, DIAG_WARNING, "REGISTRY_USERNAME is set without "
                                                                                  "REGISTRY_PASSWORD"));
        /* a login without its server: install.sh's `kubectl create secret` refuses it */
        ASSERT_TRUE(diags_mention(&no_server, DIAG_ERROR, "REGISTRY_SERVER is empty"));
        ASSERT_TRUE(!config_key_is_secret("IMAGE_PULL_SECRET")); /* a name, shown as it is */
}

TEST(app_prefix_guard) {
        _cleanup_(diag_list_clear) DiagList bad = { 0 }, own_registry = { 0 }, pinned = { 0 };
        _cleanup_(config_freep) _unused_ Config *a = CONFIG(&bad, "APP_PREFIX=acme");
        _cleanup_(config_freep) _unused_ Config *b = CONFIG(&own_registry, "APP_PREFIX=acme", "REGISTRY=reg.example.com/nap");
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&pinned, "APP_PREFIX=acme", "PLATFORM_IMAGE_PREFIX=ghcr.io/neutree-ai/agent-platform/nap");

        ASSERT_TRUE(diags_mention(&bad, DIAG_ERROR, "APP_PREFIX=acme makes the images ghcr.io/neutree-ai/agent-platform/acme-*"));
        ASSERT_EQ(bad.items[0].line, 1);
        ASSERT_EQ(own_registry.n, 0);
        ASSERT_EQ(pinned.n, 0);
        EXPECT(c, "SANDBOX_IMAGE=ghcr.io/neutree-ai/agent-platform/nap-sandbox:latest", "NAP_URL=http://acme-cp:3000");
}

TEST(ignored_keys_warn) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, "COTURN_ENABLED=true", "BROWSER_IMAGE=example.com/chromium:1", "REGISTRY=mirror.example.com/nap");

        ASSERT_EQ(diag_has_errors(&d), 0);
        ASSERT_TRUE(diags_mention(&d, DIAG_WARNING, "COTURN_ENABLED is ignored"));
        ASSERT_TRUE(diags_mention(&d, DIAG_WARNING, "BROWSER_IMAGE is not read"));
        ASSERT_TRUE(diags_mention(&d, DIAG_WARNING, "(here mirror.example.com/nap/chromium-headful:latest)"));
        ASSERT_EQ(config_module_toggle(c, MODULE_TURN), TOGGLE_ABSENT);
}

TEST(browser_without_sandbox_warns) {
        _cleanup_(diag_list_clear) DiagList d = { 0 }, both = { 0 };
        _cleanup_(config_freep) _unused_ Config *c = CONFIG(&d, BASE_KEYS, "BROWSER_ENABLED=true", "SANDBOX_ENABLED=");
        _cleanup_(config_freep) _unused_ Config *b =
                CONFIG(&both, BASE_KEYS, "BROWSER_ENABLED=true", "SANDBOX_ENABLED=true");

        ASSERT_EQ(diag_has_errors(&d), 0);
        ASSERT_TRUE(diags_mention(&d, DIAG_WARNING, "the browser is on without the sandbox"));
        ASSERT_EQ(both.n, 0);
}

/* Issue 14: a public URL is where browsers go and the prefix of the
 * registered redirect URI; what would end up in the middle of that URI, or
 * in every browser's address bar, is refused at the value's position, and
 * the value is not quoted back (user information may be a password). */
TEST(public_url_rules) {
        static const char *const bad[][2] = {
                { "SANDBOX_PUBLIC_URL=https://sb.example.com/p?x=1", "SANDBOX_PUBLIC_URL carries a query" },
                { "SANDBOX_PUBLIC_URL=https://sb.example.com/p#frag", "SANDBOX_PUBLIC_URL carries a fragment" },
                { "BROWSER_PUBLIC_URL=https://u:secretpw@br.example.com", "BROWSER_PUBLIC_URL carries user information" },
                { "WEB_PUBLIC_URL=https://u@nap.example.com:8443/x", "WEB_PUBLIC_URL carries user information" },
                { "WEB_PUBLIC_URL=https://nap.example.com/a b", "WEB_PUBLIC_URL holds whitespace" },
                { "SANDBOX_PUBLIC_URL=https://sb.example.com/\x1b[2J", "SANDBOX_PUBLIC_URL holds whitespace or a control" },
                { "SANDBOX_PUBLIC_URL=https://sb.example.com/\n", "SANDBOX_PUBLIC_URL holds whitespace or a control" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(diag_list_clear) DiagList d = { 0 };
                _cleanup_(config_freep) _unused_ Config *c =
                        CONFIG(&d, BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true", bad[i][0]);
                const Diag *e = diag_first_error(&d);
                if (!e || !strstr(e->message, bad[i][1]))
                        TEST_FAIL("%s: want an error \"%s\", got \"%s\"", bad[i][0], bad[i][1], e ? e->message : "none");
                ASSERT_EQ(diag_count(&d, DIAG_ERROR), 1);
                ASSERT_EQ(e->line, 9); /* the line of the value (after BASE_KEYS and two toggles), at its column */
                ASSERT_TRUE(e->col > 0);
                ASSERT_NULL(strstr(e->message, "secretpw"));
        }
        /* a path, a port, an IPv6 host, and "$(" (kept literal, see test-template) are fine */
        _cleanup_(diag_list_clear) DiagList ok = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&ok, BASE_KEYS, "SANDBOX_ENABLED=true", "SANDBOX_PUBLIC_URL=https://[2001:db8::1]:8443/sb/$(x)");
        ASSERT_EQ(diag_has_errors(&ok), 0);
}

TEST_MAIN(T(defaults), T(defaults_follow_earlier_keys), T(service_urls_and_redirects),
          T(trailing_slash_stripped_with_warning), T(toggles), T(bad_bool), T(required_secrets_and_placeholders),
          T(disabled_module_needs_nothing), T(node_ports), T(port_leading_zero), T(image_references),
          T(node_port_collision_ignored_for_disabled_module),
          T(external_ingress), T(host_alias), T(turn_host_hostname_warns), T(urls), T(secret_names),
          T(empty_means_default), T(empty_means_default_in_derived_values), T(empty_toggle_is_an_explicit_off),
          T(toggle_words), T(older_host_names), T(urls_need_a_host_only_when_used),
          T(external_ingress_warns_per_missing_url), T(node_selectors), T(node_selector_errors_located_at_the_value),
          T(node_selector_syntax), T(pull_secret), T(app_prefix_guard), T(ignored_keys_warn),
          T(browser_without_sandbox_warns), T(public_url_rules))
