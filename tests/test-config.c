/* SPDX-License-Identifier: Apache-2.0 */
#include "config-util.h"
#include "config-check.h"

#define CONFIG(diags, ...) config_from_strv((const char *const[]) { __VA_ARGS__, NULL }, (diags))

TEST(defaults) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c = CONFIG(&d, "UNRELATED=1");

        ASSERT_EQ(diag_has_errors(&d), 0);
        ASSERT_STREQ(config_get(c, "NAMESPACE"), "nap");
        ASSERT_STREQ(config_get(c, "PLATFORM_IMAGE_PREFIX"), "ghcr.io/neutree-ai/agent-platform/nap");
        ASSERT_STREQ(config_get(c, "SANDBOX_IMAGE"), "ghcr.io/neutree-ai/agent-platform/nap-sandbox:latest");
        ASSERT_STREQ(config_get(c, "OPENSANDBOX_URL"), "http://opensandbox-server.nap.svc:80");
        ASSERT_STREQ(config_get(c, "SERVICE_TYPE"), "NodePort");
        ASSERT_STREQ(config_get(c, "SANDBOX_SERVICE_NODE_PORT"), "30086");
        ASSERT_STREQ(config_get(c, "UNRELATED"), "1"); /* unknown keys are kept */
        ASSERT_EQ(config_module_toggle(c, MODULE_SANDBOX), TOGGLE_ABSENT);
        ASSERT_EQ(config_module_enabled(c, MODULE_SANDBOX), 0);
}

TEST(defaults_follow_earlier_keys) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c = CONFIG(&d, "NAMESPACE=prod", "REGISTRY=reg.local:5000/x",
                                                   "APP_PREFIX=acme", "IMAGE_TAG=v1.2");

        ASSERT_STREQ(config_get(c, "PLATFORM_IMAGE_PREFIX"), "reg.local:5000/x/acme");
        ASSERT_STREQ(config_get(c, "BROWSER_SERVICE_IMAGE"), "reg.local:5000/x/acme-browser:v1.2");
        ASSERT_STREQ(config_get(c, "OPENSANDBOX_URL"), "http://opensandbox-server.prod.svc:80");
        ASSERT_STREQ(config_get(c, "NAP_URL"), "http://acme-cp:3000");
}

TEST(service_urls_and_redirects) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true", "BROWSER_NODE_PORT=31000",
                       "SANDBOX_PUBLIC_URL=https://sb.example.com/base");

        ASSERT_EQ(diag_has_errors(&d), 0);
        ASSERT_STREQ(config_get(c, "WEB_PUBLIC_URL"), "http://203.0.113.7:30080");
        ASSERT_STREQ(config_get(c, "SANDBOX_SERVICE_URL"), "https://sb.example.com/base");
        ASSERT_STREQ(config_get(c, "SANDBOX_REDIRECT_URI"), "https://sb.example.com/base/api/auth/callback");
        ASSERT_STREQ(config_get(c, "BROWSER_SERVICE_URL"), "http://203.0.113.7:31000");
        ASSERT_STREQ(config_get(c, "BROWSER_REDIRECT_URI"), "http://203.0.113.7:31000/api/auth/callback");
}

TEST(trailing_slash_stripped_with_warning) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) _unused_ Config *c =
                CONFIG(&d, BASE_KEYS, "SANDBOX_ENABLED=true", "SANDBOX_PUBLIC_URL=https://sb.example.com//");

        ASSERT_EQ(diag_has_errors(&d), 0);
        ASSERT_TRUE(diags_mention(&d, DIAG_WARNING, "SANDBOX_PUBLIC_URL ends with '/'"));
        ASSERT_STREQ(config_get(c, "SANDBOX_SERVICE_URL"), "https://sb.example.com");
        ASSERT_STREQ(config_get(c, "SANDBOX_REDIRECT_URI"), "https://sb.example.com/api/auth/callback");
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
        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "SANDBOX_SERVICE_KEY is too short (8 characters"));
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
        ASSERT_TRUE(diags_mention(&d, DIAG_ERROR, "TOS_NODE_PORT=\"29999\" is not a NodePort (30000-32767)"));
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

        ASSERT_STREQ(config_get(c, "TOS_HOST"), "b.example.com");
        ASSERT_TRUE(diags_mention(&d, DIAG_WARNING, "TOS_HOST and NAP_HOST are both set and differ"));
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

TEST_MAIN(T(defaults), T(defaults_follow_earlier_keys), T(service_urls_and_redirects),
          T(trailing_slash_stripped_with_warning), T(toggles), T(bad_bool), T(required_secrets_and_placeholders),
          T(disabled_module_needs_nothing), T(node_ports), T(node_port_collision_ignored_for_disabled_module),
          T(external_ingress), T(host_alias), T(turn_host_hostname_warns), T(urls), T(secret_names))
