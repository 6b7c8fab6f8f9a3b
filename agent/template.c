/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "template-internal.h"
#include "template.h"
#include "util/base64.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/wipe.h"

#define TEMPLATE_MAX_BYTES (256 * 1024)

typedef struct RenderCtx {
        const Config *config;
        const char *file; /* for diagnostics */
        DiagList *diags;
        int error;        /* first error seen, negative errno */
        bool dropped;     /* a field was dropped: its variable is absent or empty */
        bool empty;       /* a variable it names is absent or empty (any filter) */
        bool expands;     /* the string being substituted is one Kubernetes expands $(VAR) in */
} RenderCtx;

int kind_rank(const char *kind) {
        static const char *const order[] = { "Namespace", "ServiceAccount", "Secret",    "ConfigMap",
                                             "Service",   "Deployment",     "DaemonSet" };

        assert(kind);

        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (streq(order[i], kind))
                        return (int) i;
        return (int) ELEMENTSOF(order);
}

/* ---- substitution ------------------------------------------------------ */

typedef enum Filter {
        FILTER_NONE,
        FILTER_BASE64, /* the value, base64-encoded (Secret data) */
        FILTER_STR,    /* always a JSON string, even for an int (env values) */
} Filter;

/* A value as it must stand in a string Kubernetes expands (a container's
 * env value, command or args): every '$' doubled, since the kubelet turns
 * "$$" into "$" and "$(VAR)" into VAR's value. So a value holding
 * "$(JWT_SECRET)" reaches the container as written, exactly as it is
 * registered as a redirect URI, instead of with the secret in it. */
static void put_value(StrBuf *b, const char *v, bool expands) {
        for (const char *p = v; *p; p++) {
                if (*p == '$' && expands)
                        strbuf_putc(b, '$');
                strbuf_putc(b, *p);
        }
}

static cJSON *value_string(const char *v, bool expands) {
        StrBuf b = { .wipe = true };
        cJSON *j;

        if (!expands || !strchr(v, '$'))
                return cJSON_CreateString(v);
        put_value(&b, v, true);
        if (b.oom) {
                strbuf_free(&b);
                return NULL;
        }
        j = cJSON_CreateString(b.s);
        strbuf_free(&b);
        return j;
}

/* Looks up "NAME", "NAME|base64" or "NAME|str"; *ret_var gets the variable. */
static int lookup(RenderCtx *ctx, const char *ref, size_t n, const ConfigVar **ret_var, Filter *ret_filter) {
        char name[128];
        const char *bar = memchr(ref, '|', n);
        size_t nl = bar ? (size_t) (bar - ref) : n;

        if (nl == 0 || nl >= sizeof name) {
                diag_add(ctx->diags, DIAG_ERROR, ctx->file, 0, 0, "write ${NAME}, ${NAME|base64} or ${NAME|str}",
                         "%s in \"${%.*s%s}\"", nl == 0 ? "empty variable name" : "variable name too long",
                         (int) (n < 40 ? n : 40), ref, n > 40 ? "..." : "");
                return -EINVAL;
        }
        memcpy(name, ref, nl);
        name[nl] = 0;
        *ret_filter = FILTER_NONE;
        if (bar) {
                size_t fl = n - nl - 1;
                if (fl == 6 && strncmp(bar + 1, "base64", 6) == 0)
                        *ret_filter = FILTER_BASE64;
                else if (fl == 3 && strncmp(bar + 1, "str", 3) == 0)
                        *ret_filter = FILTER_STR;
                else {
                        diag_add(ctx->diags, DIAG_ERROR, ctx->file, 0, 0, "the filters are |base64 and |str",
                                 "unknown filter in \"${%.*s}\"", (int) n, ref);
                        return -EINVAL;
                }
        }
        *ret_var = config_var(ctx->config, name);
        if (!*ret_var) {
                diag_add(ctx->diags, DIAG_ERROR, ctx->file, 0, 0, "see `nap-agent vars` for the known variables",
                         "template uses unknown variable %s", name);
                return -EINVAL;
        }
        return 0;
}

/* The value of a string that is exactly one placeholder of v. Returns 1
 * when the field goes (absent, or an empty string: the API server drops
 * empty strings too, so sending them would make every re-apply a write), 0
 * with *ret set. A Secret value (|base64) always stays, empty when v is
 * empty or absent, as install.sh's `KEY: "${VAR}"`: a pod that reads the
 * key starts with an empty value instead of failing on a missing key. */
static int whole_value(RenderCtx *ctx, const ConfigVar *v, Filter f, cJSON **ret) {
        if (f == FILTER_BASE64) {
                const char *value = v->value ? v->value : "";
                char *enc = base64_encode(value, strlen(value));
                *ret = enc ? cJSON_CreateString(enc) : NULL;
                wipe_free(enc);
                return *ret ? 0 : -ENOMEM;
        }
        if (!v->value || (!*v->value && v->type != VAR_BOOL))
                return 1;
        if (v->type == VAR_INT && f == FILTER_NONE)
                *ret = cJSON_CreateNumber(strtod(v->value, NULL));
        else if (v->type == VAR_BOOL && f == FILTER_NONE)
                *ret = cJSON_CreateBool(streq(v->value, "true"));
        else if (v->type == VAR_JSON && f == FILTER_NONE) {
                *ret = cJSON_Parse(v->value);
                if (!*ret) {
                        diag_add(ctx->diags, DIAG_ERROR, ctx->file, 0, 0, NULL, "variable %s is not valid JSON",
                                 v->name);
                        return -EINVAL;
                }
        } else
                *ret = value_string(v->value, ctx->expands);
        return *ret ? 0 : -ENOMEM;
}

/* Expands a string. Returns 1 when the whole string is one absent variable
 * (drop the field), 0 otherwise with *ret set to a new JSON value. */
static int substitute_string(RenderCtx *ctx, const char *s, cJSON **ret) {
        StrBuf b = { .wipe = true };
        const ConfigVar *only = NULL, *json = NULL;
        Filter only_filter = FILTER_NONE;
        size_t pieces = 0;

        for (const char *p = s; *p;) {
                if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
                        strbuf_puts(&b, "${");
                        p += 3, pieces++;
                        continue;
                }
                if (!(p[0] == '$' && p[1] == '{')) {
                        strbuf_putc(&b, *p++);
                        pieces++;
                        continue;
                }
                const char *end = strchr(p, '}');
                const ConfigVar *v;
                Filter f;
                if (!end || lookup(ctx, p + 2, (size_t) (end - p - 2), &v, &f) < 0) {
                        if (!end)
                                diag_add(ctx->diags, DIAG_ERROR, ctx->file, 0, 0, NULL, "unterminated \"${\" in template");
                        strbuf_free(&b);
                        return -EINVAL;
                }
                if (strempty(v->value))
                        ctx->empty = true;
                if (v->value && f == FILTER_BASE64) {
                        char *enc = base64_encode(v->value, strlen(v->value));
                        strbuf_puts(&b, enc ? enc : "");
                        wipe_free(enc);
                } else if (v->value)
                        put_value(&b, v->value, ctx->expands);
                only = v, only_filter = f;
                if (v->type == VAR_JSON && f == FILTER_NONE)
                        json = v;
                pieces += 2; /* a placeholder counts for more than one literal */
                p = end + 1;
        }

        if (pieces == 2 && only) { /* exactly one placeholder, nothing else */
                strbuf_free(&b);
                return whole_value(ctx, only, only_filter, ret);
        }
        if (json) {
                strbuf_free(&b);
                diag_add(ctx->diags, DIAG_ERROR, ctx->file, 0, 0, "write it as a whole string: \"${%s}\"",
                         "variable %s holds JSON and cannot stand inside a longer string", json->name);
                return -EINVAL;
        }
        if (b.oom) {
                strbuf_free(&b);
                return -ENOMEM;
        }
        *ret = cJSON_CreateString(b.s ? b.s : "");
        strbuf_free(&b);
        return *ret ? 0 : -ENOMEM;
}

/* Where a string stands, for what Kubernetes does with it (see put_value). */
enum {
        IN_CONTAINERS = 1u << 0, /* an array of containers */
        IN_CONTAINER = 1u << 1,  /* a container */
        IN_ENV = 1u << 2,        /* a container's env list */
        IN_ENV_ENTRY = 1u << 3,  /* one of its entries */
        IN_EXPANDED = 1u << 4,   /* command or args: every string is expanded */
};

static unsigned child_place(const cJSON *parent, unsigned place, const cJSON *child) {
        const char *key = child->string;

        if (cJSON_IsObject(parent) && key &&
            (streq(key, "containers") || streq(key, "initContainers") || streq(key, "ephemeralContainers")))
                return IN_CONTAINERS;
        if (place & IN_CONTAINERS)
                return IN_CONTAINER;
        if ((place & IN_CONTAINER) && key)
                return streq(key, "env") ? IN_ENV : streq(key, "command") || streq(key, "args") ? IN_EXPANDED : 0;
        if (place & IN_ENV)
                return IN_ENV_ENTRY;
        if ((place & IN_ENV_ENTRY) && key && streq(key, "value"))
                return IN_EXPANDED;
        return place & IN_EXPANDED;
}

static int substitute_child(RenderCtx *ctx, cJSON *j, cJSON *child, unsigned place) {
        cJSON *n = NULL;
        int r;

        ctx->expands = place & IN_EXPANDED;
        r = substitute_string(ctx, child->valuestring, &n);
        ctx->expands = false;
        if (r < 0)
                return r;
        if (r > 0) {
                cJSON_Delete(cJSON_DetachItemViaPointer(j, child));
                ctx->dropped = true;
                return 0;
        }
        /* ReplaceItemViaPointer keeps the old key only if we copy it. */
        if (child->string && !(n->string = strdup(child->string))) {
                cJSON_Delete(n);
                return -ENOMEM;
        }
        cJSON_ReplaceItemViaPointer(j, child, n);
        return 0;
}

/* Substitutes in place through j's children; place: where j stands. */
static int substitute(RenderCtx *ctx, cJSON *j, unsigned place) {
        cJSON *child = j->child;

        while (child) {
                cJSON *next = child->next;
                unsigned cp = child_place(j, place, child);
                int r = 0;

                if (cJSON_IsString(child))
                        r = substitute_child(ctx, j, child, cp);
                else if (cJSON_IsObject(child) || cJSON_IsArray(child))
                        r = substitute(ctx, child, cp);
                if (r < 0)
                        return r;
                child = next;
        }
        return 0;
}

/* ---- canonical form and digests ---------------------------------------- */

static int cmp_keys(const void *a, const void *b) {
        return strcmp((*(cJSON *const *) a)->string, (*(cJSON *const *) b)->string);
}

static cJSON *canonical_copy(const cJSON *j) {
        cJSON *out;
        size_t n = 0;

        if (!cJSON_IsObject(j) && !cJSON_IsArray(j))
                return cJSON_Duplicate(j, true);
        out = cJSON_IsObject(j) ? cJSON_CreateObject() : cJSON_CreateArray();
        if (!out)
                return NULL;
        for (cJSON *c = j->child; c; c = c->next)
                n++;
        _cleanup_free_ cJSON **items = calloc(n ? n : 1, sizeof *items);
        if (!items) {
                cJSON_Delete(out);
                return NULL;
        }
        n = 0;
        for (cJSON *c = j->child; c; c = c->next)
                items[n++] = c;
        if (cJSON_IsObject(j))
                qsort_safe(items, n, sizeof *items, cmp_keys);
        for (size_t i = 0; i < n; i++) {
                cJSON *c = canonical_copy(items[i]);
                if (!c) {
                        cJSON_Delete(out);
                        return NULL;
                }
                if (cJSON_IsObject(j))
                        cJSON_AddItemToObject(out, items[i]->string, c);
                else
                        cJSON_AddItemToArray(out, c);
        }
        return out;
}

char *json_canonical(const cJSON *j) {
        cJSON *c;
        char *s;

        assert(j);

        c = canonical_copy(j);
        if (!c)
                return NULL;
        s = cJSON_PrintUnformatted(c);
        cJSON_Delete(c);
        return s;
}

static void sha256(const void *data, size_t len, uint8_t out[32]) {
        unsigned n = 32;

        EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* ---- template files ---------------------------------------------------- */

static const char *json_str(const cJSON *j, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int json_filter(const struct dirent *de) {
        size_t n = strlen(de->d_name);
        return de->d_name[0] != '.' && n > 5 && streq(de->d_name + n - 5, ".json");
}

/* The template file names: those of dir, plus any the override dir adds. */
static int list_templates(const char *dir, const char *odir, Strv *ret) {
        struct dirent **a = NULL, **b = NULL;
        int na, nb, r = 0;

        na = scandir(dir, &a, json_filter, alphasort);
        if (na < 0)
                return negative_errno();
        nb = scandir(odir, &b, json_filter, alphasort);
        for (int i = 0; i < na; i++)
                if (r >= 0)
                        r = strv_push(ret, strdup(a[i]->d_name));
        for (int i = 0; i < nb; i++) {
                bool dup = false;
                for (size_t j = 0; j < ret->n; j++)
                        dup = dup || streq(ret->items[j], b[i]->d_name);
                if (!dup && r >= 0)
                        r = strv_push(ret, strdup(b[i]->d_name));
        }
        for (int i = 0; i < na; i++)
                free(a[i]);
        for (int i = 0; i < nb; i++)
                free(b[i]);
        free(a);
        free(b);
        return r;
}

static int parse_template_file(const char *path, cJSON **ret, DiagList *diags) {
        _cleanup_free_ char *text = NULL;
        const char *end = NULL;
        cJSON *j;
        int r;

        r = read_full_file(path, TEMPLATE_MAX_BYTES, &text, NULL);
        if (r < 0) {
                diag_add(diags, DIAG_ERROR, path, 0, 0, NULL, "cannot read template: %s", strerror(-r));
                return r;
        }
        j = cJSON_ParseWithOpts(text, &end, true);
        if (!j) {
                unsigned line = 1, col = 1;
                for (const char *p = text; end && p < end; p++)
                        if (*p == '\n')
                                line++, col = 1;
                        else
                                col++;
                diag_add(diags, DIAG_ERROR, path, line, col, NULL, "template is not valid JSON");
                return -EINVAL;
        }
        *ret = j;
        return 0;
}

static char *dup_str(const cJSON *j, const char *key) {
        const char *s = json_str(j, key);
        return s ? strdup(s) : NULL;
}

/* Who owns a template: "module" is one name or a list of names. */
typedef struct Owners {
        Module first_enabled; /* the module it is shown under */
        bool enabled;         /* rendered: one of the owners is on */
        bool partial;         /* "partial": true, owned by the platform's core */
        bool create_only;     /* "createOnly": true */
        const char *list_entries; /* "listEntries": the list the agent adds its entries to (partial only) */
        bool installer_patches; /* "installerPatches": true (template.h) */
        char names[64];       /* "sandbox" or "sandbox,browser", as the ledger records it */
} Owners;

/* A partial object belongs to the platform's core and is always rendered;
 * the core's objects are never the agent's to create, so nothing else may
 * name it, but for one the platform's installer makes only when it is
 * missing (createOnly: the registry login's Secret), which the agent makes
 * the same way. */
static int partial_owners(const cJSON *j, const char *path, Owners *ret, DiagList *diags) {
        const cJSON *mod = cJSON_GetObjectItemCaseSensitive(j, "module");
        bool partial = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "partial"));
        bool core = cJSON_IsString(mod) && streq(mod->valuestring, PARTIAL_MODULE);

        if (!partial && !core)
                return 0;
        if (core && !partial && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "createOnly"))) {
                *ret = (Owners) { .enabled = true, .names = PARTIAL_MODULE };
                return 1;
        }
        if (partial != core) {
                diag_add(diags, DIAG_ERROR, path, 0, 0, "a partial object is the platform's own: \"module\": \""
                         PARTIAL_MODULE "\", \"partial\": true",
                         "template has %s without %s", partial ? "\"partial\": true" : "module \"" PARTIAL_MODULE "\"",
                         partial ? "module \"" PARTIAL_MODULE "\"" : "\"partial\": true");
                return -EINVAL;
        }
        *ret = (Owners) { .enabled = true, .partial = true, .names = PARTIAL_MODULE };
        return 1;
}

static int template_owners(const Config *c, const cJSON *j, const char *path, Owners *ret, DiagList *diags) {
        const cJSON *mod = cJSON_GetObjectItemCaseSensitive(j, "module");
        bool list = cJSON_IsArray(mod);
        int n = list ? cJSON_GetArraySize(mod) : cJSON_IsString(mod) ? 1 : 0;
        Owners o = { 0 };
        int r;

        r = partial_owners(j, path, ret, diags);
        if (r != 0)
                return r < 0 ? r : 0;
        for (int i = 0; i < n; i++) {
                const cJSON *e = list ? cJSON_GetArrayItem(mod, i) : mod;
                int m = cJSON_IsString(e) ? module_from_string(e->valuestring) : -EINVAL;
                if (m < 0 || strlen(o.names) + strlen(e->valuestring) + 2 > sizeof o.names) {
                        n = 0;
                        break;
                }
                if (!o.enabled && config_module_enabled(c, (Module) m))
                        o.enabled = true, o.first_enabled = (Module) m;
                if (i > 0)
                        strcat(o.names, ",");
                strcat(o.names, e->valuestring);
        }
        if (n == 0) {
                diag_add(diags, DIAG_ERROR, path, 0, 0, "one of sandbox, browser, turn, or a list of them",
                         "template needs a \"module\" naming the module(s) that own it");
                return -EINVAL;
        }
        *ret = o;
        return 0;
}

/* The two ways besides server-side apply: "createOnly": true, an object
 * created when it does not exist and else never written, never deleted (the
 * registry login's Secret, as install.sh's `kubectl create`); and, on a
 * partial object, "listEntries": the name of a top-level list whose entries
 * (matched by "name") the agent adds by read-modify-write, keeping every
 * other one (a ServiceAccount's imagePullSecrets, which server-side apply
 * would replace whole: the list is atomic). */
static int template_kind(const cJSON *j, const char *path, Owners *own, DiagList *diags) {
        const cJSON *co = cJSON_GetObjectItemCaseSensitive(j, "createOnly");
        const cJSON *le = cJSON_GetObjectItemCaseSensitive(j, "listEntries");

        own->create_only = cJSON_IsTrue(co);
        own->list_entries = cJSON_IsString(le) ? le->valuestring : NULL;
        if ((co && !cJSON_IsBool(co)) || (le && !own->list_entries) || (own->create_only && own->partial) ||
            (own->list_entries && !own->partial)) {
                diag_add(diags, DIAG_ERROR, path, 0, 0, "\"createOnly\": true on an object of a module; "
                         "\"listEntries\": \"FIELD\" on a partial object",
                         "template has a \"createOnly\" or \"listEntries\" it cannot have");
                return -EINVAL;
        }
        return 0;
}

static int add_object(DesiredSet *s, const Owners *own, const char *path, cJSON *body, DiagList *diags) {
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(body, "metadata");
        DesiredObject *o, *p;

        if (!json_str(body, "apiVersion") || !json_str(body, "kind") || !json_str(meta, "name")) {
                diag_add(diags, DIAG_ERROR, path, 0, 0, NULL, "object needs apiVersion, kind and metadata.name");
                cJSON_Delete(body);
                return -EINVAL;
        }
        p = realloc(s->objects, (s->n_objects + 1) * sizeof *p);
        if (!p) {
                cJSON_Delete(body);
                return -ENOMEM;
        }
        s->objects = p;
        o = &s->objects[s->n_objects++];
        *o = (DesiredObject) {
                .module = own->first_enabled,
                .modules = strdup(own->names),
                .source = strdup(path_basename(path)),
                .api_version = dup_str(body, "apiVersion"),
                .kind = dup_str(body, "kind"),
                .namespace = dup_str(meta, "namespace"),
                .name = dup_str(meta, "name"),
                .body = body,
        };
        o->rank = kind_rank(o->kind);
        o->holds_secrets = streq(o->kind, "Secret");
        o->partial = own->partial;
        o->create_only = own->create_only;
        if (own->list_entries && !(o->list_entries = strdup(own->list_entries)))
                return -ENOMEM;
        o->installer_patches = own->installer_patches;
        if (!o->modules || !o->source || !o->api_version || !o->kind || !o->name)
                return -ENOMEM;
        if (o->list_entries && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(body, o->list_entries))) {
                diag_add(diags, DIAG_ERROR, path, 0, 0, NULL, "\"listEntries\" names \"%s\", which is not a list "
                         "of the object", o->list_entries);
                return -EINVAL;
        }
        return 0;
}

static int add_client(DesiredSet *s, const Owners *own, const char *path, cJSON *body, DiagList *diags) {
        DesiredClient *c, *p;
        int r = 0;

        p = realloc(s->clients, (s->n_clients + 1) * sizeof *p);
        if (!p)
                r = -ENOMEM;
        else {
                s->clients = p;
                c = &s->clients[s->n_clients++];
                *c = (DesiredClient) {
                        .module = own->first_enabled,
                        .id = dup_str(body, "id"),
                        .name = dup_str(body, "name"),
                        .redirect_uri = dup_str(body, "redirect_uri"),
                };
                if (!c->id || !c->name || !c->redirect_uri) {
                        diag_add(diags, DIAG_ERROR, path, 0, 0, NULL,
                                 "oauthClient needs id, name and redirect_uri (is the service URL derivable?)");
                        r = -EINVAL;
                }
        }
        cJSON_Delete(body);
        return r;
}

static int render_file(const Config *c, const char *path, DesiredSet *s, DiagList *diags) {
        cJSON *j = NULL, *item;
        Owners own;
        int r;

        r = parse_template_file(path, &j, diags);
        if (r < 0)
                return r;
        r = template_owners(c, j, path, &own, diags);
        if (r >= 0)
                r = template_kind(j, path, &own, diags);
        if (r < 0 || !own.enabled) {
                cJSON_Delete(j);
                return r;
        }
        _cleanup_free_ char *list_entries = own.list_entries ? strdup(own.list_entries) : NULL;
        if (own.list_entries && !list_entries) {
                cJSON_Delete(j);
                return -ENOMEM;
        }
        own.list_entries = list_entries; /* j, which held it, goes below */
        own.installer_patches = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "installerPatches"));

        RenderCtx ctx = { .config = c, .file = path, .diags = diags };
        bool is_client = cJSON_HasObjectItem(j, "oauthClient");
        item = cJSON_DetachItemFromObjectCaseSensitive(j, is_client ? "oauthClient" : "object");
        cJSON_Delete(j);
        if (!cJSON_IsObject(item) || (is_client && own.partial)) {
                diag_add(diags, DIAG_ERROR, path, 0, 0, NULL, "template needs an \"object\" or an \"oauthClient\"");
                cJSON_Delete(item);
                return -EINVAL;
        }
        r = substitute(&ctx, item, 0);
        if (r < 0 || ((own.partial || own.create_only) && ctx.empty)) {
                /* A partial object sets exactly what it names: without a
                 * value (NAP_HOST and the URL empty) it would erase the
                 * platform's, so it is not rendered at all; nor is an
                 * object made once, without all it is made of (no
                 * registry login: no pull Secret). */
                json_delete_wiped(item);
                return r < 0 ? r : 0;
        }
        return is_client ? add_client(s, &own, path, item, diags) : add_object(s, &own, path, item, diags);
}

static int cmp_objects(const void *a, const void *b) {
        const DesiredObject *x = a, *y = b;
        int r;

        if (x->rank != y->rank)
                return x->rank < y->rank ? -1 : 1;
        if ((r = strcmp(x->kind, y->kind)) != 0)
                return r;
        return strcmp(x->name, y->name);
}

static int finish_set(DesiredSet *s) {
        int r;

        qsort_safe(s->objects, s->n_objects, sizeof *s->objects, cmp_objects);
        for (size_t i = 0; i < s->n_objects; i++)
                if ((r = template_digest_annotate(&s->objects[i], s)) < 0)
                        return r;
        for (size_t i = 0; i < s->n_objects; i++) {
                DesiredObject *o = &s->objects[i];
                char *json = json_canonical(o->body);
                if (!json)
                        return -ENOMEM;
                /* The secrets a pod consumes count for its digest: the
                 * annotation that carries them is computed at apply time. */
                if (o->secret_digest_input && asprintf(&o->canonical, "%s\n%s", json, o->secret_digest_input) < 0)
                        o->canonical = NULL;
                else if (!o->secret_digest_input)
                        o->canonical = TAKE_PTR(json);
                wipe_free(json);
                if (!o->canonical)
                        return -ENOMEM;
                sha256(o->canonical, strlen(o->canonical), o->digest);
        }
        return 0;
}

int template_render(const Config *c, const TemplateDirs *dirs, DesiredSet **ret, DiagList *diags) {
        _cleanup_(desired_set_freep) DesiredSet *s = NULL;
        _cleanup_(strv_clear) Strv names = { 0 };
        const char *dir, *odir;
        int r, failed = 0;

        assert(c);
        assert(dirs);
        assert(dirs->dir);
        assert(ret);
        assert(diags);

        dir = dirs->dir;
        odir = dirs->override_dir;
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        r = list_templates(dir, odir, &names);
        if (r < 0) {
                diag_add(diags, DIAG_ERROR, dir, 0, 0, "set NAP_TEMPLATES_DIR or reinstall nap-agent",
                         "cannot list templates: %s", strerror(-r));
                return r;
        }
        for (size_t i = 0; i < names.n; i++) {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", odir, names.items[i]) < 0)
                        return -ENOMEM;
                if (access(path, F_OK) < 0) {
                        free(path);
                        if (asprintf(&path, "%s/%s", dir, names.items[i]) < 0)
                                return -ENOMEM;
                }
                r = render_file(c, path, s, diags);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        failed = r; /* keep going: report every broken template */
        }
        if (failed < 0)
                return failed;
        r = finish_set(s);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

DesiredSet *desired_set_free(DesiredSet *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_objects; i++) {
                DesiredObject *o = &s->objects[i];
                free(o->modules);
                free(o->list_entries);
                free(o->source);
                free(o->api_version);
                free(o->kind);
                free(o->namespace);
                free(o->name);
                json_delete_wiped(o->body);
                wipe_free(o->canonical);
                wipe_free(o->secret_digest_input);
        }
        for (size_t i = 0; i < s->n_clients; i++) {
                free(s->clients[i].id);
                free(s->clients[i].name);
                free(s->clients[i].redirect_uri);
        }
        free(s->objects);
        free(s->clients);
        free(s);
        return NULL;
}

static void redact_strings(cJSON *j, const Config *c) {
        for (cJSON *ch = j->child; ch; ch = ch->next) {
                if (cJSON_IsString(ch) && config_contains_secret(c, ch->valuestring))
                        cJSON_SetValuestring(ch, "<redacted>");
                else if (cJSON_IsObject(ch) || cJSON_IsArray(ch))
                        redact_strings(ch, c);
        }
}

cJSON *desired_object_redacted(const DesiredObject *o, const Config *c) {
        cJSON *j, *d;

        assert(o);
        assert(c);

        j = cJSON_Duplicate(o->body, true);
        if (!j)
                return NULL;
        if (o->holds_secrets) {
                static const char *const fields[] = { "data", "stringData" };
                for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                        cJSON *data = cJSON_GetObjectItemCaseSensitive(j, fields[i]);
                        for (d = data ? data->child : NULL; d; d = d->next)
                                cJSON_SetValuestring(d, "<redacted>");
                }
        }
        redact_strings(j, c);
        return j;
}
