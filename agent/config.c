/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key table of DESIGN.md §3 is data (key_specs below): name, default,
 * check, and which module needs it. config_new() walks it in order, so a
 * default may refer to keys above it; then derives the values the templates
 * use; then checks the cross-key rules (NodePort collisions, required keys).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config-check.h"
#include "util/strbuf.h"

typedef struct KeySpec {
        const char *name;
        const char *alias;   /* newer name accepted for the same key */
        const char *def;     /* default, may use ${KEY} of keys above; NULL: absent */
        VarType type;
        CheckKind check;
        bool secret;
        int required_by;     /* a Module, or -1 */
} KeySpec;

static const KeySpec key_specs[] = {
        { "NAMESPACE",             NULL,            "nap",                                 VAR_STRING, CHECK_DNS_LABEL,    false, -1 },
        { "APP_PREFIX",            NULL,            "nap",                                 VAR_STRING, CHECK_NAME_PREFIX,  false, -1 },
        { "REGISTRY",              NULL,            "ghcr.io/neutree-ai/agent-platform",   VAR_STRING, CHECK_IMAGE,        false, -1 },
        { "IMAGE_TAG",             NULL,            "latest",                              VAR_STRING, CHECK_IMAGE_TAG,    false, -1 },
        { "PLATFORM_IMAGE_PREFIX", NULL,            "${REGISTRY}/${APP_PREFIX}",           VAR_STRING, CHECK_IMAGE,        false, -1 },
        { "COTURN_IMAGE",          NULL,            "docker.io/coturn/coturn:4.6",         VAR_STRING, CHECK_IMAGE,        false, -1 },
        { "BROWSER_IMAGE",         NULL,            "${PLATFORM_IMAGE_PREFIX}-chromium:${IMAGE_TAG}", VAR_STRING, CHECK_IMAGE, false, -1 },
        { "TOS_HOST",              "NAP_HOST",      NULL,                                  VAR_STRING, CHECK_HOST,         false, -1 },
        { "TOS_NODE_PORT",         "NAP_NODE_PORT", "30080",                               VAR_INT,    CHECK_NODE_PORT,    false, -1 },
        { "WEB_PUBLIC_URL",        NULL,            NULL,                                  VAR_STRING, CHECK_PUBLIC_URL,   false, -1 },
        { "INGRESS_MODE",          NULL,            "nodeport",                            VAR_STRING, CHECK_INGRESS_MODE, false, -1 },
        { "PG_USERNAME",           NULL,            "nap",                                 VAR_STRING, CHECK_PG_NAME,      false, -1 },
        { "PG_PASSWORD",           NULL,            NULL,                                  VAR_STRING, CHECK_NONE,         true,  -1 },
        { "DB_NAME",               NULL,            "nap",                                 VAR_STRING, CHECK_PG_NAME,      false, -1 },
        { "DATABASE_URL",          NULL,            NULL,                                  VAR_STRING, CHECK_NONE,         true,  -1 },
        { "KUBECONFIG",            NULL,            NULL,                                  VAR_STRING, CHECK_NONE,         false, -1 },
        { "SANDBOX_ENABLED",       NULL,            "false",                               VAR_BOOL,   CHECK_BOOL,         false, -1 },
        { "SANDBOX_NODE_PORT",     NULL,            "30086",                               VAR_INT,    CHECK_NODE_PORT,    false, -1 },
        { "SANDBOX_JWT_SECRET",    NULL,            NULL,                                  VAR_STRING, CHECK_SECRET,       true,  MODULE_SANDBOX },
        { "SANDBOX_SERVICE_KEY",   NULL,            NULL,                                  VAR_STRING, CHECK_SECRET,       true,  MODULE_SANDBOX },
        { "SANDBOX_DOMAIN",        NULL,            "",                                    VAR_STRING, CHECK_DOMAIN,       false, -1 },
        { "OPENSANDBOX_URL",       NULL,            "http://opensandbox-server.${NAMESPACE}.svc:80", VAR_STRING, CHECK_URL, false, -1 },
        { "SANDBOX_PUBLIC_URL",    NULL,            "",                                    VAR_STRING, CHECK_PUBLIC_URL,   false, -1 },
        { "BROWSER_ENABLED",       NULL,            "false",                               VAR_BOOL,   CHECK_BOOL,         false, -1 },
        { "BROWSER_NODE_PORT",     NULL,            "30085",                               VAR_INT,    CHECK_NODE_PORT,    false, -1 },
        { "BROWSER_JWT_SECRET",    NULL,            NULL,                                  VAR_STRING, CHECK_SECRET,       true,  MODULE_BROWSER },
        { "TURN_AUTH_SECRET",      NULL,            NULL,                                  VAR_STRING, CHECK_SECRET,       true,  MODULE_BROWSER },
        { "TURN_HOST",             NULL,            NULL,                                  VAR_STRING, CHECK_TURN_HOST,    false, MODULE_BROWSER },
        { "TURN_PORT",             NULL,            "3478",                                VAR_INT,    CHECK_PORT,         false, -1 },
        { "BROWSER_PUBLIC_URL",    NULL,            "",                                    VAR_STRING, CHECK_PUBLIC_URL,   false, -1 },
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
        for (int m = 0; m < _MODULE_MAX; m++)
                if (streq(module_names[m], s))
                        return m;
        return -EINVAL;
}

bool config_key_is_secret(const char *name) {
        static const char *const words[] = { "SECRET", "PASSWORD", "PASSWD", "TOKEN", "KEY", "CREDENTIAL" };

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
        return config_var_mut((Config *) c, name);
}

const char *config_get(const Config *c, const char *name) {
        const ConfigVar *v = config_var(c, name);
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

/* Expands ${KEY} of variables already in the table, for defaults. */
static char *expand_default(const Config *c, const char *def) {
        StrBuf b = { 0 };

        for (const char *p = def; *p;) {
                const char *end;
                if (p[0] == '$' && p[1] == '{' && (end = strchr(p, '}'))) {
                        char name[64];
                        size_t n = (size_t) (end - p - 2);
                        if (n < sizeof name) {
                                memcpy(name, p + 2, n);
                                name[n] = 0;
                                strbuf_puts(&b, config_get(c, name) ? config_get(c, name) : "");
                        }
                        p = end + 1;
                } else
                        strbuf_putc(&b, *p++);
        }
        return strbuf_steal(&b);
}

static void add_alias_warnings(const Config *c, const KeySpec *k, const EnvEntry *old, const EnvEntry *new,
                               DiagList *diags) {
        if (old && new && !streq(old->value, new->value))
                diag_add(diags, DIAG_WARNING, c->path, new->line, new->col,
                         "remove one of the two lines; the newer name wins",
                         "%s and %s are both set and differ; using %s", k->name, k->alias, k->alias);
}

static int config_load_keys(Config *c, DiagList *diags) {
        for (size_t i = 0; i < ELEMENTSOF(key_specs); i++) {
                const KeySpec *k = &key_specs[i];
                const EnvEntry *e = envfile_get(c->env, k->name), *a = NULL;
                int r;

                if (k->alias) {
                        a = envfile_get(c->env, k->alias);
                        add_alias_warnings(c, k, e, a, diags);
                        if (a)
                                e = a;
                }
                if (e)
                        r = config_set(c, k->name, e->value, k->type, VAR_FROM_FILE, k->secret, e->line,
                                       e->value_col);
                else if (k->def) {
                        _cleanup_free_ char *v = expand_default(c, k->def);
                        if (!v)
                                return -ENOMEM;
                        r = config_set(c, k->name, v, k->type, VAR_DEFAULT, k->secret, 0, 0);
                } else
                        r = config_set(c, k->name, NULL, k->type, VAR_DEFAULT, k->secret, 0, 0);
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

static Toggle toggle_of(const Config *c, const char *name) {
        const ConfigVar *v = config_var(c, name);

        if (!v || v->origin != VAR_FROM_FILE)
                return TOGGLE_ABSENT;
        return v->value && streq(v->value, "true") ? TOGGLE_ON : TOGGLE_OFF;
}

bool config_module_enabled(const Config *c, Module m) {
        return c->toggles[m] == TOGGLE_ON;
}

Toggle config_module_toggle(const Config *c, Module m) {
        return c->toggles[m];
}

bool config_contains_secret(const Config *c, const char *s) {
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

static void check_keys(Config *c, DiagList *diags) {
        for (size_t i = 0; i < ELEMENTSOF(key_specs); i++) {
                const KeySpec *k = &key_specs[i];
                ConfigVar *v = config_var_mut(c, k->name);
                bool needed = k->required_by < 0 || config_module_enabled(c, (Module) k->required_by);

                if (k->required_by >= 0 && needed && strempty(v->value)) {
                        diag_add(diags, DIAG_ERROR, c->path, v->line, v->line ? v->col : 0,
                                 k->secret ? "run `nap-agent gen-secrets` to fill it with a random value" : NULL,
                                 "%s is required when %s is enabled", k->name,
                                 module_to_string((Module) k->required_by));
                        continue;
                }
                if (!needed || !v->value)
                        continue;
                /* Defaults are ours and valid; only what the file says is checked,
                 * except values built from other keys (they may carry bad parts). */
                if (v->origin == VAR_FROM_FILE || (k->def && strchr(k->def, '$')))
                        config_check_value(c, v, k->check, diags);
        }
}

static int config_derive_urls(Config *c, DiagList *diags) {
        const char *host = config_get(c, "TOS_HOST");
        const ConfigVar *web = config_var(c, "WEB_PUBLIC_URL");
        static const struct {
                Module module;
                const char *prefix;
        } svc[] = { { MODULE_SANDBOX, "SANDBOX" }, { MODULE_BROWSER, "BROWSER" } };
        int r;

        if (!web->value && !strempty(host)) {
                _cleanup_free_ char *u = NULL;
                if (asprintf(&u, "http://%s:%s", host, config_get(c, "TOS_NODE_PORT")) < 0)
                        return -ENOMEM;
                r = config_set(c, "WEB_PUBLIC_URL", u, VAR_STRING, VAR_DERIVED, false, 0, 0);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < ELEMENTSOF(svc); i++) {
                _cleanup_free_ char *k_public = NULL, *k_port = NULL, *k_url = NULL, *k_redirect = NULL,
                                    *url = NULL, *redirect = NULL;
                if (asprintf(&k_public, "%s_PUBLIC_URL", svc[i].prefix) < 0 ||
                    asprintf(&k_port, "%s_NODE_PORT", svc[i].prefix) < 0 ||
                    asprintf(&k_url, "%s_SERVICE_URL", svc[i].prefix) < 0 ||
                    asprintf(&k_redirect, "%s_REDIRECT_URI", svc[i].prefix) < 0)
                        return -ENOMEM;
                const ConfigVar *pub = config_var(c, k_public);
                bool enabled = config_module_enabled(c, svc[i].module);

                if (!strempty(pub->value))
                        url = strdup(pub->value);
                else if (!strempty(host)) {
                        if (asprintf(&url, "http://%s:%s", host, config_get(c, k_port)) < 0)
                                return -ENOMEM;
                } else if (enabled)
                        diag_add(diags, DIAG_ERROR, c->path, 0, 0,
                                 "set TOS_HOST (or NAP_HOST) to the host users reach NodePorts at, or set the public URL",
                                 "%s cannot be derived: neither %s nor TOS_HOST is set", k_url, k_public);
                if (enabled && c->ingress_external && strempty(pub->value))
                        diag_add(diags, DIAG_WARNING, c->path, pub->line, pub->col,
                                 "set it to the URL users reach the service at behind your ingress",
                                 "INGRESS_MODE=external but %s is empty: the redirect URI will use the NodePort "
                                 "URL, the classic cause of \"400 invalid_redirect_uri\"", k_public);
                if (url && asprintf(&redirect, "%s/api/auth/callback", url) < 0)
                        return -ENOMEM;
                r = config_set(c, k_url, url, VAR_STRING, VAR_DERIVED, false, 0, 0);
                if (r >= 0)
                        r = config_set(c, k_redirect, redirect, VAR_STRING, VAR_DERIVED, false, 0, 0);
                if (r < 0)
                        return r;
        }

        if (!config_get(c, "WEB_PUBLIC_URL") &&
            (config_module_enabled(c, MODULE_SANDBOX) || config_module_enabled(c, MODULE_BROWSER)))
                diag_add(diags, DIAG_ERROR, c->path, 0, 0, "set TOS_HOST (or NAP_HOST), or WEB_PUBLIC_URL",
                         "WEB_PUBLIC_URL cannot be derived: TOS_HOST is not set");
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

static int config_derive(Config *c, DiagList *diags) {
        const char *prefix = config_get(c, "APP_PREFIX"), *ipfx = config_get(c, "PLATFORM_IMAGE_PREFIX"),
                   *tag = config_get(c, "IMAGE_TAG");
        bool sandbox = config_module_enabled(c, MODULE_SANDBOX);
        int r;

        r = config_derive_urls(c, diags);
        if (r < 0)
                return r;

        if ((r = derive_fmt(c, "SERVICE_TYPE", VAR_STRING, "%s", c->ingress_external ? "ClusterIP" : "NodePort")) < 0 ||
            (r = derive_fmt(c, "SANDBOX_IMAGE", VAR_STRING, "%s-sandbox:%s", ipfx, tag)) < 0 ||
            (r = derive_fmt(c, "BROWSER_SERVICE_IMAGE", VAR_STRING, "%s-browser:%s", ipfx, tag)) < 0 ||
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

        /* The browser calls the sandbox with SANDBOX_SERVICE_KEY. With the
         * sandbox on, it reads the sandbox's Secret (one source of truth);
         * otherwise its own Secret carries a copy, when one is set. */
        r = derive_fmt(c, "BROWSER_SERVICE_KEY_SECRET", VAR_STRING, "%s-%s-secret", prefix,
                       sandbox ? "sandbox" : "browser");
        if (r >= 0)
                r = derive_fmt(c, "BROWSER_SERVICE_KEY_SECRET_KEY", VAR_STRING, "%s",
                               sandbox ? "SERVICE_KEY" : "SANDBOX_SERVICE_KEY");
        if (r >= 0) {
                const char *key = config_get(c, "SANDBOX_SERVICE_KEY");
                r = config_set(c, "BROWSER_OWN_SERVICE_KEY", sandbox || strempty(key) ? NULL : key, VAR_STRING,
                               VAR_DERIVED, true, 0, 0);
        }
        return r;
}

static void check_node_port_collisions(Config *c, DiagList *diags) {
        static const struct {
                const char *key;
                int module;
        } ports[] = { { "TOS_NODE_PORT", -1 }, { "SANDBOX_NODE_PORT", MODULE_SANDBOX }, { "BROWSER_NODE_PORT", MODULE_BROWSER } };

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
                        diag_add(diags, DIAG_ERROR, c->path, at->line, at->line ? at->col : 0,
                                 "every NodePort must be distinct: pick another port in 30000-32767",
                                 "%s and %s are both %s", ports[i].key, ports[j].key, a->value);
                }
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
        return config_derive(c, diags);
}

int config_new(EnvFile *env, Config **ret, DiagList *diags) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

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

int config_load(const char *path, Config **ret, DiagList *diags) {
        _cleanup_(envfile_freep) EnvFile *env = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        Config *c;
        int r;

        r = envfile_read(path, &text, &len, diags);
        if (r < 0)
                return r;
        r = envfile_parse(path, text, len, &env, diags);
        if (r >= 0)
                check_final_newline(path, text, len, diags);
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
