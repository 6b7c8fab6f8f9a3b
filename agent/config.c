/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The keys of values.env, read as docs/platform.md §1 says the installer
 * reads them, are data (key_specs below): name, older name, default,
 * check, and which module uses it. config_new() walks it in order, so a
 * default may refer to keys above it; then derives the values the templates
 * use; then checks the cross-key rules (NodePort collisions, the
 * APP_PREFIX guard, module combinations).
 */
#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config-check.h"
#include "util/base64.h"
#include "util/strbuf.h"
#include "util/json.h"

#define PUBLIC_REGISTRY "ghcr.io/neutree-ai/agent-platform"

typedef struct KeySpec {
        const char *name;
        const char *alias;   /* older name accepted for the same key (the name above wins) */
        const char *def;     /* default, may use ${KEY} of keys above; NULL: none. An empty
                              * value in the file takes it too, as `${KEY:-default}` does */
        VarType type;
        CheckKind check;
        bool secret;
        int module;          /* checked only while this Module is on; -1: always */
        bool required;       /* an empty value is an error while the module is on */
} KeySpec;

static const KeySpec key_specs[] = {
        { "NAMESPACE",             NULL,            "nap",                                 VAR_STRING, CHECK_DNS_LABEL,     false, -1, false },
        { "APP_PREFIX",            NULL,            "nap",                                 VAR_STRING, CHECK_NAME_PREFIX,   false, -1, false },
        { "REGISTRY",              NULL,            PUBLIC_REGISTRY,                       VAR_STRING, CHECK_IMAGE,         false, -1, false },
        { "IMAGE_TAG",             NULL,            "latest",                              VAR_STRING, CHECK_IMAGE_TAG,     false, -1, false },
        { "PLATFORM_IMAGE_PREFIX", NULL,            "${REGISTRY}/${APP_PREFIX}",           VAR_STRING, CHECK_IMAGE,         false, -1, false },
        { "COTURN_IMAGE",          NULL,            "docker.io/coturn/coturn:4.6",         VAR_STRING, CHECK_IMAGE,         false, -1, false },
        { "RUNTIME_NODE_IMAGE",    NULL,            "docker.io/library/node:22-bookworm",  VAR_STRING, CHECK_IMAGE,         false, -1, false },
        { "RUNTIME_PYTHON_IMAGE",  NULL,            "docker.io/library/python:3.12-bookworm", VAR_STRING, CHECK_IMAGE,      false, -1, false },
        { "RUNTIME_GOLANG_IMAGE",  NULL,            "docker.io/library/golang:1.23",       VAR_STRING, CHECK_IMAGE,         false, -1, false },
        { "PAUSE_IMAGE",           NULL,            "registry.k8s.io/pause:3.9",           VAR_STRING, CHECK_IMAGE,         false, -1, false },
        { "REGISTRY_SERVER",       NULL,            NULL,                                  VAR_STRING, CHECK_NONE,          false, -1, false },
        { "REGISTRY_USERNAME",     NULL,            NULL,                                  VAR_STRING, CHECK_NONE,          false, -1, false },
        { "REGISTRY_PASSWORD",     NULL,            NULL,                                  VAR_STRING, CHECK_NONE,          true,  -1, false },
        { "IMAGE_PULL_SECRET",     NULL,            NULL,                                  VAR_STRING, CHECK_OBJECT_NAME,   false, -1, false },
        { "NAP_HOST",              "TOS_HOST",      NULL,                                  VAR_STRING, CHECK_HOST,          false, -1, false },
        { "NAP_NODE_PORT",         "TOS_NODE_PORT", "30080",                               VAR_INT,    CHECK_NODE_PORT,     false, -1, false },
        { "WEB_PUBLIC_URL",        NULL,            "http://${NAP_HOST}:${NAP_NODE_PORT}", VAR_STRING, CHECK_PUBLIC_URL,    false, -1, false },
        { "INGRESS_MODE",          NULL,            "nodeport",                            VAR_STRING, CHECK_INGRESS_MODE,  false, -1, false },
        { "PG_USERNAME",           NULL,            "nap",                                 VAR_STRING, CHECK_PG_NAME,       false, -1, false },
        { "PG_PASSWORD",           NULL,            NULL,                                  VAR_STRING, CHECK_NONE,          true,  -1, false },
        { "DB_NAME",               NULL,            "nap",                                 VAR_STRING, CHECK_PG_NAME,       false, -1, false },
        { "DATABASE_URL",          NULL,            NULL,                                  VAR_STRING, CHECK_NONE,          true,  -1, false },
        { "KUBECONFIG",            NULL,            NULL,                                  VAR_STRING, CHECK_NONE,          false, -1, false },
        { "SANDBOX_ENABLED",       NULL,            "false",                               VAR_BOOL,   CHECK_BOOL,          false, -1, false },
        { "SANDBOX_NODE_PORT",     NULL,            "30086",                               VAR_INT,    CHECK_NODE_PORT,     false, -1, false },
        { "SANDBOX_JWT_SECRET",    NULL,            NULL,                                  VAR_STRING, CHECK_SECRET,        true,  MODULE_SANDBOX, true },
        { "SANDBOX_SERVICE_KEY",   NULL,            NULL,                                  VAR_STRING, CHECK_SECRET,        true,  MODULE_SANDBOX, true },
        { "SANDBOX_DOMAIN",        NULL,            "",                                    VAR_STRING, CHECK_DOMAIN,        false, -1, false },
        { "SANDBOX_NODE_SELECTOR", NULL,            NULL,                                  VAR_STRING, CHECK_NODE_SELECTOR, false, MODULE_SANDBOX, false },
        { "OPENSANDBOX_URL",       NULL,            "http://opensandbox-server.${NAMESPACE}.svc:80", VAR_STRING, CHECK_URL, false, -1, false },
        { "SANDBOX_PUBLIC_URL",    NULL,            "http://${NAP_HOST}:${SANDBOX_NODE_PORT}", VAR_STRING, CHECK_PUBLIC_URL, false, -1, false },
        { "BROWSER_ENABLED",       NULL,            "false",                               VAR_BOOL,   CHECK_BOOL,          false, -1, false },
        { "BROWSER_NODE_PORT",     NULL,            "30085",                               VAR_INT,    CHECK_NODE_PORT,     false, -1, false },
        { "BROWSER_JWT_SECRET",    NULL,            NULL,                                  VAR_STRING, CHECK_SECRET,        true,  MODULE_BROWSER, true },
        { "TURN_AUTH_SECRET",      NULL,            NULL,                                  VAR_STRING, CHECK_SECRET,        true,  MODULE_BROWSER, true },
        { "TURN_HOST",             NULL,            NULL,                                  VAR_STRING, CHECK_TURN_HOST,     false, MODULE_BROWSER, true },
        { "TURN_PORT",             NULL,            "3478",                                VAR_INT,    CHECK_PORT,          false, -1, false },
        { "COTURN_NODE_SELECTOR",  NULL,            NULL,                                  VAR_STRING, CHECK_NODE_SELECTOR, false, MODULE_BROWSER, false },
        { "BROWSER_PUBLIC_URL",    NULL,            "http://${NAP_HOST}:${BROWSER_NODE_PORT}", VAR_STRING, CHECK_PUBLIC_URL, false, -1, false },
};

static const char *const module_names[_MODULE_MAX] = {
        [MODULE_SANDBOX] = "sandbox",
        [MODULE_BROWSER] = "browser",
        [MODULE_TURN] = "turn",
};

const char *module_to_string(Module m) {
        return m < _MODULE_MAX ? module_names[m] : NULL;
}

int module_from_string(const char *s) {
        assert(s);

        for (int m = 0; m < _MODULE_MAX; m++)
                if (streq(module_names[m], s))
                        return m;
        return -EINVAL;
}

const char *var_origin_to_string(VarOrigin o) {
        switch (o) {
        case VAR_FROM_FILE:
                return "file";
        case VAR_DEFAULT:
                return "default";
        case VAR_FILE_EMPTY:
                return "file (empty) → default";
        case VAR_DERIVED:
                break;
        }
        return "derived";
}

/* Whether the file gave the variable a value of its own (not a default). */
static bool config_var_from_file(const ConfigVar *v) {
        return v && v->origin == VAR_FROM_FILE;
}

bool config_key_is_secret(const char *name) {
        static const char *const words[] = { "SECRET", "PASSWORD", "PASSWD", "TOKEN", "KEY", "CREDENTIAL" };

        assert(name);

        for (size_t i = 0; i < ELEMENTSOF(key_specs); i++)
                if (streq(key_specs[i].name, name))
                        return key_specs[i].secret;
        if (streq(name, "DATABASE_URL"))
                return true;
        /* Unknown keys: go by the name, erring on the side of hiding. */
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (strstr(name, words[i]))
                        return true;
        return false;
}

static ConfigVar *config_var_mut(Config *c, const char *name) {
        size_t i = strindex_get(c->var_index, name);

        return i != STRINDEX_NONE ? &c->vars[i] : NULL;
}

const ConfigVar *config_var(const Config *c, const char *name) {
        assert(c);
        assert(name);

        return config_var_mut((Config *) c, name);
}

const char *config_get(const Config *c, const char *name) {
        const ConfigVar *v;

        assert(c);
        assert(name);

        v = config_var(c, name);
        return v ? v->value : NULL;
}

/* Appends a variable named name (copied), absent, and indexes it. */
static ConfigVar *config_add_var(Config *c, const char *name) {
        ConfigVar *v;

        if (!c->var_index && strindex_new(&c->var_index) < 0)
                return NULL;
        if (c->n_vars == c->allocated_vars) {
                size_t n = c->allocated_vars ? c->allocated_vars * 2 : 64;
                ConfigVar *p = reallocarray(c->vars, n, sizeof *p);
                if (!p)
                        return NULL;
                c->vars = p;
                c->allocated_vars = n;
        }
        v = &c->vars[c->n_vars];
        *v = (ConfigVar) { .name = strdup(name) };
        if (!v->name)
                return NULL;
        if (strindex_put(c->var_index, v->name, c->n_vars, NULL) < 0) {
                free(v->name);
                return NULL;
        }
        c->n_vars++;
        return v;
}

/* Adds or replaces a variable; value is copied (NULL: absent). */
static int config_set(Config *c, const char *name, const char *value, VarType type, VarOrigin origin,
                      bool secret, unsigned line, unsigned col) {
        ConfigVar *v = config_var_mut(c, name);
        char *copy = NULL;

        if (value && !(copy = strdup(value)))
                return -ENOMEM;
        if (!v && !(v = config_add_var(c, name))) {
                free(copy);
                return -ENOMEM;
        }
        if (v->value)
                explicit_bzero(v->value, strlen(v->value));
        free(v->value);
        v->value = copy;
        v->type = type;
        v->origin = origin;
        v->secret = secret;
        v->line = line;
        v->col = col;
        return 0;
}

/* Expands ${KEY} of variables already in the table, for defaults. A default
 * that refers to a variable without a value cannot be built: *ret is NULL
 * then (`http://${NAP_HOST}:30086` with no NAP_HOST is no URL). */
static int expand_default(const Config *c, const char *def, char **ret) {
        StrBuf b = { 0 };
        bool missing = false;

        for (const char *p = def; *p;) {
                const char *end;
                if (p[0] == '$' && p[1] == '{' && (end = strchr(p, '}'))) {
                        char name[64];
                        size_t n = (size_t) (end - p - 2);
                        if (n < sizeof name) {
                                memcpy(name, p + 2, n);
                                name[n] = 0;
                                const char *v = config_get(c, name);
                                missing = missing || strempty(v);
                                strbuf_puts(&b, strempty(v) ? "" : v);
                        }
                        p = end + 1;
                } else
                        strbuf_putc(&b, *p++);
        }
        _cleanup_free_ char *s = strbuf_steal(&b);
        if (!s)
                return -ENOMEM;
        *ret = missing ? NULL : TAKE_PTR(s);
        return 0;
}

/* The line that sets k: its own name's, or the older name's when only that
 * one has a value (install.sh reads only the new name; older files carry the
 * old one). Both set and different: the new name wins, with a warning. */
static const EnvEntry *key_entry(const Config *c, const KeySpec *k, DiagList *diags) {
        const EnvEntry *e = envfile_get(c->env, k->name), *old = k->alias ? envfile_get(c->env, k->alias) : NULL;

        if (!old)
                return e;
        if (e && !strempty(e->value) && !strempty(old->value) && !streq(e->value, old->value))
                diag_add(diags, DIAG_WARNING, c->path, e->line, e->col,
                         "remove one of the two lines; the newer name wins",
                         "%s and %s are both set and differ; using %s", k->alias, k->name, k->name);
        if (!e || (strempty(e->value) && !strempty(old->value)))
                return old;
        return e;
}

static int config_load_key(Config *c, const KeySpec *k, DiagList *diags) {
        const EnvEntry *e = key_entry(c, k, diags);
        _cleanup_free_ char *v = NULL;
        int r;

        /* A value of its own; or an empty one where there is no default to take. */
        if (e && (!strempty(e->value) || strempty(k->def)))
                return config_set(c, k->name, e->value, k->type, VAR_FROM_FILE, k->secret, e->line, e->value_col);
        if (k->def && (r = expand_default(c, k->def, &v)) < 0)
                return r;
        if (e) /* `KEY=` takes the default, as `${KEY:-default}` does */
                return config_set(c, k->name, v, k->type, VAR_FILE_EMPTY, k->secret, e->line, e->value_col);
        return config_set(c, k->name, v, k->type, VAR_DEFAULT, k->secret, 0, 0);
}

static int config_load_keys(Config *c, DiagList *diags) {
        for (size_t i = 0; i < ELEMENTSOF(key_specs); i++) {
                int r = config_load_key(c, &key_specs[i], diags);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool is_alias(const char *name) {
        for (size_t j = 0; j < ELEMENTSOF(key_specs); j++)
                if (key_specs[j].alias && streq(key_specs[j].alias, name))
                        return true;
        return false;
}

/* Keys the file sets that the table does not know: kept for other tooling,
 * in the order of their first assignment with the value of their last.
 * Every lookup is indexed, so this is linear in the file. */
static int config_load_unknown(Config *c) {
        (void) strindex_reserve(c->var_index, c->n_vars + c->env->n_entries);
        for (size_t i = 0; i < c->env->n_entries; i++) {
                const EnvEntry *e = &c->env->entries[i];
                int r;

                if (config_var(c, e->key) || is_alias(e->key))
                        continue;
                e = envfile_get(c->env, e->key); /* the last assignment */
                r = config_set(c, e->key, e->value, VAR_STRING, VAR_FROM_FILE, config_key_is_secret(e->key),
                               e->line, e->value_col);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A toggle line that is there says on ("true") or off (anything else that
 * passed the check: "false" or empty, which install.sh reads as false). */
static Toggle toggle_of(const Config *c, const char *name) {
        const ConfigVar *v = config_var(c, name);

        if (!v || (v->origin != VAR_FROM_FILE && v->origin != VAR_FILE_EMPTY))
                return TOGGLE_ABSENT;
        return v->value && streq(v->value, "true") ? TOGGLE_ON : TOGGLE_OFF;
}

bool config_module_enabled(const Config *c, Module m) {
        assert(c);
        assert(m >= 0 && m < _MODULE_MAX);

        return c->toggles[m] == TOGGLE_ON;
}

Toggle config_module_toggle(const Config *c, Module m) {
        assert(c);
        assert(m >= 0 && m < _MODULE_MAX);

        return c->toggles[m];
}

bool config_contains_secret(const Config *c, const char *s) {
        assert(c);
        assert(s);

        for (size_t i = 0; i < c->n_vars; i++) {
                const ConfigVar *v = &c->vars[i];
                if (!v->secret || strempty(v->value))
                        continue;
                /* A very short secret would match inside unrelated words; it
                 * is still hidden where it stands alone. */
                if (streq(s, v->value) || (strlen(v->value) >= 6 && strstr(s, v->value)))
                        return true;
        }
        return false;
}

static unsigned diag_col(const ConfigVar *v) {
        return v->line ? v->col : 0;
}

static void check_keys(Config *c, DiagList *diags) {
        for (size_t i = 0; i < ELEMENTSOF(key_specs); i++) {
                const KeySpec *k = &key_specs[i];
                ConfigVar *v = config_var_mut(c, k->name);

                if (k->module >= 0 && !config_module_enabled(c, (Module) k->module))
                        continue;
                if (k->required && strempty(v->value)) {
                        diag_add(diags, DIAG_ERROR, c->path, v->line, diag_col(v),
                                 k->secret ? "run `nap-agent gen-secrets` to fill it with a random value" : NULL,
                                 "%s is required when %s is enabled", k->name, module_to_string((Module) k->module));
                        continue;
                }
                if (!v->value)
                        continue;
                /* Defaults are ours and valid; only what the file says is checked,
                 * except values built from other keys (they may carry bad parts). */
                if (v->origin == VAR_FROM_FILE || (k->def && strchr(k->def, '$')))
                        config_check_value(c, v, k->check, diags);
        }
}

/* The public URLs (docs/platform.md §1) are resolved by the key table; here they
 * feed the service URLs and redirect URIs, and a module that is on needs its
 * own: `http://:30086` would be deployed otherwise. */
static int config_derive_urls(Config *c, DiagList *diags) {
        static const struct {
                Module module;
                const char *prefix;
        } svc[] = { { MODULE_SANDBOX, "SANDBOX" }, { MODULE_BROWSER, "BROWSER" } };
        const ConfigVar *web = config_var(c, "WEB_PUBLIC_URL");
        bool any = config_module_enabled(c, MODULE_SANDBOX) || config_module_enabled(c, MODULE_BROWSER);
        int r;

        if (!web->value && any)
                diag_add(diags, DIAG_ERROR, c->path, web->line, diag_col(web),
                         "set NAP_HOST to the host users reach NodePorts at, or set WEB_PUBLIC_URL",
                         "WEB_PUBLIC_URL cannot be derived: NAP_HOST is empty");
        if (any && c->ingress_external && !config_var_from_file(web))
                diag_add(diags, DIAG_WARNING, c->path, web->line, diag_col(web),
                         "set it to the URL users reach the control plane at behind your ingress",
                         "INGRESS_MODE=external but WEB_PUBLIC_URL is empty: the services send logins to %s, "
                         "a NodePort URL", web->value ? web->value : "nowhere");

        for (size_t i = 0; i < ELEMENTSOF(svc); i++) {
                _cleanup_free_ char *k_public = NULL, *k_url = NULL, *k_redirect = NULL, *redirect = NULL;
                if (asprintf(&k_public, "%s_PUBLIC_URL", svc[i].prefix) < 0 ||
                    asprintf(&k_url, "%s_SERVICE_URL", svc[i].prefix) < 0 ||
                    asprintf(&k_redirect, "%s_REDIRECT_URI", svc[i].prefix) < 0)
                        return -ENOMEM;
                const ConfigVar *pub = config_var(c, k_public);
                bool enabled = config_module_enabled(c, svc[i].module);

                if (enabled && !pub->value)
                        diag_add(diags, DIAG_ERROR, c->path, pub->line, diag_col(pub),
                                 "set NAP_HOST to the host users reach NodePorts at, or set the public URL",
                                 "%s cannot be derived: NAP_HOST is empty", k_public);
                if (enabled && c->ingress_external && !config_var_from_file(pub))
                        diag_add(diags, DIAG_WARNING, c->path, pub->line, diag_col(pub),
                                 "set it to the URL users reach the service at behind your ingress",
                                 "INGRESS_MODE=external but %s is empty: the redirect URI will use the NodePort "
                                 "URL, the classic cause of \"400 invalid_redirect_uri\"", k_public);
                if (pub->value && asprintf(&redirect, "%s/api/auth/callback", pub->value) < 0)
                        return -ENOMEM;
                r = config_set(c, k_url, pub->value, VAR_STRING, VAR_DERIVED, false, 0, 0);
                if (r >= 0)
                        r = config_set(c, k_redirect, redirect, VAR_STRING, VAR_DERIVED, false, 0, 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int derive_fmt(Config *c, const char *name, VarType type, const char *format, ...) _printf_(4, 5);
static int derive_fmt(Config *c, const char *name, VarType type, const char *format, ...) {
        _cleanup_free_ char *v = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&v, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return config_set(c, name, v, type, VAR_DERIVED, false, 0, 0);
}

/* name = the node selector of key as a JSON map; absent when it is empty or
 * malformed (check_keys reported that where it matters). With tolerations,
 * tolerations = [{operator: Exists}] whenever there is a selector. */
static int derive_node_selector(Config *c, const char *key, const char *name, const char *tolerations) {
        _cleanup_free_ char *json = NULL, *problem = NULL;
        const char *v = config_get(c, key);
        int r;

        r = node_selector_to_json(strempty(v) ? "" : v, &json, &problem);
        if (r == -ENOMEM)
                return r;
        r = config_set(c, name, r < 0 ? NULL : json, VAR_JSON, VAR_DERIVED, false, 0, 0);
        if (r >= 0 && tolerations)
                r = config_set(c, tolerations, json ? "[{\"operator\":\"Exists\"}]" : NULL, VAR_JSON, VAR_DERIVED,
                               false, 0, 0);
        return r;
}

/* The registry login as `kubectl create secret docker-registry` writes it
 * into the Secret's .dockerconfigjson: {"auths": {SERVER: {"username",
 * "password", "auth": base64(USER:PASSWORD)}}}. A secret (it holds the
 * password); absent without a complete login. */
static int derive_docker_config(Config *c, const char *server, const char *user, const char *pass) {
        _cleanup_(json_delete_wipedp) cJSON *j = cJSON_CreateObject();
        _cleanup_free_ char *pair = NULL, *auth = NULL, *text = NULL;
        cJSON *auths, *entry;
        int r;

        if (strempty(server) || strempty(user) || strempty(pass))
                return config_set(c, "REGISTRY_DOCKERCONFIGJSON", NULL, VAR_STRING, VAR_DERIVED, true, 0, 0);
        if (asprintf(&pair, "%s:%s", user, pass) < 0)
                return -ENOMEM;
        auth = base64_encode(pair, strlen(pair));
        explicit_bzero(pair, strlen(pair));
        auths = j && auth ? cJSON_AddObjectToObject(j, "auths") : NULL;
        entry = auths ? cJSON_AddObjectToObject(auths, server) : NULL;
        if (!entry || !cJSON_AddStringToObject(entry, "username", user) ||
            !cJSON_AddStringToObject(entry, "password", pass) || !cJSON_AddStringToObject(entry, "auth", auth) ||
            !(text = cJSON_PrintUnformatted(j)))
                r = -ENOMEM;
        else
                r = config_set(c, "REGISTRY_DOCKERCONFIGJSON", text, VAR_STRING, VAR_DERIVED, true, 0, 0);
        if (auth)
                explicit_bzero(auth, strlen(auth));
        if (text)
                explicit_bzero(text, strlen(text));
        return r;
}

/* IMAGE_PULL_SECRET, and IMAGE_PULL_SECRETS = [{name: it}] for pod specs.
 * install.sh names it `regcred` when the registry has a login. */
static int derive_pull_secret(Config *c) {
        const char *user = config_get(c, "REGISTRY_USERNAME"), *pass = config_get(c, "REGISTRY_PASSWORD");
        _cleanup_free_ char *list = NULL;
        int r;

        r = derive_docker_config(c, config_get(c, "REGISTRY_SERVER"), user, pass);
        if (r < 0)
                return r;
        if (strempty(config_get(c, "IMAGE_PULL_SECRET")) && !strempty(user) && !strempty(pass)) {
                r = config_set(c, "IMAGE_PULL_SECRET", "regcred", VAR_STRING, VAR_DERIVED, false, 0, 0);
                if (r < 0)
                        return r;
        }
        const char *name = config_get(c, "IMAGE_PULL_SECRET");
        if (!strempty(name)) {
                cJSON *l = cJSON_CreateArray(), *o = cJSON_CreateObject();
                if (o && cJSON_AddStringToObject(o, "name", name) && l && cJSON_AddItemToArray(l, o))
                        o = NULL;
                list = l ? cJSON_PrintUnformatted(l) : NULL;
                cJSON_Delete(l);
                cJSON_Delete(o);
                if (!list)
                        return -ENOMEM;
        }
        return config_set(c, "IMAGE_PULL_SECRETS", list, VAR_JSON, VAR_DERIVED, false, 0, 0);
}

static int config_derive(Config *c, DiagList *diags) {
        const char *prefix = config_get(c, "APP_PREFIX"), *ipfx = config_get(c, "PLATFORM_IMAGE_PREFIX"),
                   *tag = config_get(c, "IMAGE_TAG"), *registry = config_get(c, "REGISTRY");
        int r;

        r = config_derive_urls(c, diags);
        if (r < 0)
                return r;

        if ((r = derive_fmt(c, "SERVICE_TYPE", VAR_STRING, "%s", c->ingress_external ? "ClusterIP" : "NodePort")) < 0 ||
            (r = derive_fmt(c, "SANDBOX_IMAGE", VAR_STRING, "%s-sandbox:%s", ipfx, tag)) < 0 ||
            (r = derive_fmt(c, "BROWSER_SERVICE_IMAGE", VAR_STRING, "%s-browser:%s", ipfx, tag)) < 0 ||
            /* the image every remote browser session starts from: the only one the platform publishes */
            (r = derive_fmt(c, "CHROMIUM_IMAGE", VAR_STRING, "%s/chromium-headful:%s", registry, tag)) < 0 ||
            (r = derive_fmt(c, "NAP_URL", VAR_STRING, "http://%s-cp:3000", prefix)) < 0 ||
            (r = derive_fmt(c, "PG_HOST", VAR_STRING, "%s-pg-rw", prefix)) < 0 ||
            (r = derive_fmt(c, "PG_SECRET_NAME", VAR_STRING, "%s-pg-user", prefix)) < 0)
                return r;

        /* NodePorts exist only as nodePort fields under INGRESS_MODE=nodeport. */
        static const char *const ports[][2] = {
                { "SANDBOX_SERVICE_NODE_PORT", "SANDBOX_NODE_PORT" },
                { "BROWSER_SERVICE_NODE_PORT", "BROWSER_NODE_PORT" },
        };
        for (size_t i = 0; i < ELEMENTSOF(ports); i++) {
                r = config_set(c, ports[i][0], c->ingress_external ? NULL : config_get(c, ports[i][1]), VAR_INT,
                               VAR_DERIVED, false, 0, 0);
                if (r < 0)
                        return r;
        }

        if ((r = derive_node_selector(c, "COTURN_NODE_SELECTOR", "COTURN_NODE_SELECTOR_MAP", "COTURN_TOLERATIONS")) < 0 ||
            (r = derive_node_selector(c, "SANDBOX_NODE_SELECTOR", "SANDBOX_NODE_SELECTOR_MAP", NULL)) < 0)
                return r;
        return derive_pull_secret(c);
}

static void check_node_port_collisions(Config *c, DiagList *diags) {
        static const struct {
                const char *key;
                int module;
        } ports[] = { { "NAP_NODE_PORT", -1 }, { "SANDBOX_NODE_PORT", MODULE_SANDBOX }, { "BROWSER_NODE_PORT", MODULE_BROWSER } };

        if (c->ingress_external)
                return;
        for (size_t i = 0; i < ELEMENTSOF(ports); i++)
                for (size_t j = i + 1; j < ELEMENTSOF(ports); j++) {
                        const ConfigVar *a = config_var(c, ports[i].key), *b = config_var(c, ports[j].key);
                        if (ports[j].module >= 0 && !config_module_enabled(c, (Module) ports[j].module))
                                continue;
                        if (ports[i].module >= 0 && !config_module_enabled(c, (Module) ports[i].module))
                                continue;
                        if (!a->value || !b->value || !streq(a->value, b->value))
                                continue;
                        const ConfigVar *at = b->origin == VAR_FROM_FILE ? b : a;
                        diag_add(diags, DIAG_ERROR, c->path, at->line, diag_col(at),
                                 "every NodePort must be distinct: pick another port in 30000-32767",
                                 "%s and %s are both %s", ports[i].key, ports[j].key, a->value);
                }
}

/* install.sh's first APP_PREFIX guard: the public registry hosts only nap-*
 * images, so another prefix with the default image prefix pulls images that
 * do not exist. (The second guard, another prefix already installed in the
 * namespace, needs the cluster: the manager checks it.) */
static void check_app_prefix(Config *c, DiagList *diags) {
        const ConfigVar *prefix = config_var(c, "APP_PREFIX"), *ipfx = config_var(c, "PLATFORM_IMAGE_PREFIX");
        _cleanup_free_ char *public = NULL;

        if (!prefix->value || streq(prefix->value, "nap") || !ipfx->value)
                return;
        if (asprintf(&public, PUBLIC_REGISTRY "/%s", prefix->value) < 0 || !streq(ipfx->value, public))
                return;
        const ConfigVar *at = config_var_from_file(ipfx) ? ipfx : prefix;
        diag_add(diags, DIAG_ERROR, c->path, at->line, diag_col(at),
                 "set PLATFORM_IMAGE_PREFIX=" PUBLIC_REGISTRY "/nap to keep your object names and pull the public "
                 "images, or point REGISTRY at your own registry that holds the images under this prefix",
                 "APP_PREFIX=%s makes the images %s-*, but the public registry hosts only nap-* images",
                 prefix->value, ipfx->value);
}

/* install.sh makes the login's Secret with `kubectl create secret
 * docker-registry --docker-server="${REGISTRY_SERVER}"`, which refuses an
 * empty server: with a login and no server it stops there. Half a login
 * makes no Secret at all, there as here. */
static void check_registry_login(Config *c, DiagList *diags) {
        const ConfigVar *server = config_var(c, "REGISTRY_SERVER"), *user = config_var(c, "REGISTRY_USERNAME"),
                        *pass = config_var(c, "REGISTRY_PASSWORD");
        const ConfigVar *set = !strempty(user->value) ? user : pass;

        if (!strempty(user->value) && !strempty(pass->value) && strempty(server->value))
                diag_add(diags, DIAG_ERROR, c->path, server->line ? server->line : set->line,
                         server->line ? diag_col(server) : 0,
                         "set REGISTRY_SERVER to the registry's host (e.g. registry.example.com)",
                         "REGISTRY_USERNAME and REGISTRY_PASSWORD are set but REGISTRY_SERVER is empty: the pull "
                         "Secret cannot be made (install.sh stops there too)");
        else if (strempty(user->value) != strempty(pass->value))
                diag_add(diags, DIAG_WARNING, c->path, set->line, diag_col(set),
                         "set both REGISTRY_USERNAME and REGISTRY_PASSWORD, or neither",
                         "%s is set without %s: no registry login is made", set->name,
                         set == user ? "REGISTRY_PASSWORD" : "REGISTRY_USERNAME");
}

/* Keys people carry over that nothing reads. */
static void check_ignored_keys(Config *c, DiagList *diags) {
        const EnvEntry *e;

        if ((e = envfile_get(c->env, "COTURN_ENABLED")))
                diag_add(diags, DIAG_WARNING, c->path, e->line, e->col, "remove the line",
                         "COTURN_ENABLED is ignored: the TURN relay (coturn) runs exactly when BROWSER_ENABLED=true");
        if ((e = envfile_get(c->env, "BROWSER_IMAGE")))
                diag_add(diags, DIAG_WARNING, c->path, e->line, e->col,
                         "remove the line; to pull the session image from a mirror, set REGISTRY",
                         "BROWSER_IMAGE is not read: remote browser sessions always start from "
                         "${REGISTRY}/chromium-headful:${IMAGE_TAG} (here %s)", config_get(c, "CHROMIUM_IMAGE"));
}

static void check_modules(Config *c, DiagList *diags) {
        const ConfigVar *t = config_var(c, "BROWSER_ENABLED");

        if (config_module_enabled(c, MODULE_BROWSER) && !config_module_enabled(c, MODULE_SANDBOX))
                diag_add(diags, DIAG_WARNING, c->path, t->line, diag_col(t), "set SANDBOX_ENABLED=true as well",
                         "the browser is on without the sandbox: the browser service starts its sessions through "
                         "the sandbox service, so no session will start");
}

static int config_build(Config *c, DiagList *diags) {
        int r;

        r = config_load_keys(c, diags);
        if (r >= 0)
                r = config_load_unknown(c);
        if (r < 0)
                return r;

        c->toggles[MODULE_SANDBOX] = toggle_of(c, "SANDBOX_ENABLED");
        c->toggles[MODULE_BROWSER] = c->toggles[MODULE_TURN] = toggle_of(c, "BROWSER_ENABLED");
        c->ingress_external = streq(config_get(c, "INGRESS_MODE"), "external");

        check_keys(c, diags);
        check_node_port_collisions(c, diags);
        check_app_prefix(c, diags);
        check_modules(c, diags);
        check_registry_login(c, diags);
        r = config_derive(c, diags);
        if (r >= 0)
                check_ignored_keys(c, diags);
        return r;
}

int config_new(EnvFile *env, Config **ret, DiagList *diags) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        assert(env);
        assert(ret);
        assert(diags);

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->env = env;
        c->path = strdup(env->path ? env->path : "values.env");
        r = c->path ? config_build(c, diags) : -ENOMEM;
        if (r < 0) {
                c->env = NULL; /* ownership passes only on success */
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

/* A last line without its newline is how a write cut short looks (an
 * editor or a script interrupted, a full disk): its value may be a prefix
 * of the intended one that still validates (TURN_PORT=34 of 3478), so the
 * file is refused until it ends with a newline. */
static void check_final_newline(const char *path, const char *text, size_t len, DiagList *diags) {
        unsigned line = 1, col = 1;

        if (len == 0 || text[len - 1] == '\n')
                return;
        for (size_t i = 0; i < len; i++) {
                if (text[i] == '\n')
                        line++, col = 1;
                else
                        col++;
        }
        diag_add(diags, DIAG_ERROR, path, line, col,
                 "end the last line with a newline; nothing is applied until then",
                 "the file does not end with a newline: it may have been cut short by an interrupted write");
}

/* A file that assigns nothing (empty, or only comments) is refused: that is
 * what a write cut to nothing looks like, and an operator who wants the
 * modules off says so with their toggles (decided in issue 15; README,
 * "Safety"). */
static void check_not_empty(const char *path, const EnvFile *env, DiagList *diags) {
        if (env->n_entries == 0)
                diag_add(diags, DIAG_ERROR, path, 1, 1,
                         "write the settings back (at least SANDBOX_ENABLED and BROWSER_ENABLED); an empty or "
                         "comments-only file applies nothing",
                         "the file assigns no key at all: it may have been emptied or cut short");
}

int config_load(const char *path, Config **ret, DiagList *diags) {
        _cleanup_(envfile_freep) EnvFile *env = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        Config *c;
        int r;

        assert(path);
        assert(ret);
        assert(diags);

        r = envfile_read(path, &text, &len, diags);
        if (r < 0)
                return r;
        r = envfile_parse(path, text, len, &env, diags);
        if (r >= 0) {
                check_final_newline(path, text, len, diags);
                check_not_empty(path, env, diags);
        }
        explicit_bzero(text, len);
        if (r < 0)
                return r;
        r = config_new(env, &c, diags);
        if (r < 0)
                return r;
        env = NULL; /* owned by c now */
        *ret = c;
        return 0;
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_vars; i++) {
                free(c->vars[i].name);
                if (c->vars[i].value)
                        explicit_bzero(c->vars[i].value, strlen(c->vars[i].value));
                free(c->vars[i].value);
        }
        free(c->vars);
        strindex_free(c->var_index);
        free(c->path);
        envfile_free(c->env);
        free(c);
        return NULL;
}
