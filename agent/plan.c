/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "plan-internal.h"
#include "plan.h"
#include "util/json.h"
#include "util/strbuf.h"

/* ---- secret-free views and digests ------------------------------------ */

static void redact_value(cJSON *j, const Ledger *l) {
        char h[LEDGER_DIGEST_HEX], buf[32];

        ledger_hmac(l, j->valuestring, strlen(j->valuestring), h);
        snprintf(buf, sizeof buf, "<redacted:%.12s>", h);
        cJSON_SetValuestring(j, buf);
}

static void redact_tree(cJSON *j, const Config *c, const Ledger *l) {
        for (cJSON *ch = j->child; ch; ch = ch->next) {
                if (cJSON_IsString(ch) && config_contains_secret(c, ch->valuestring))
                        redact_value(ch, l);
                else if (cJSON_IsObject(ch) || cJSON_IsArray(ch))
                        redact_tree(ch, c, l);
        }
}

/* The secret-digest annotation is computed at apply time (template.h): the
 * view shows what it is computed from, keyed with the ledger's key, so a
 * change of a consumed secret shows as a change of the annotation. */
static void view_secret_digest(cJSON *view, const char *input, const Ledger *l) {
        cJSON *ann = template_secret_digest_annotation(view);
        char h[LEDGER_DIGEST_HEX], buf[32];

        if (!ann || !input)
                return;
        ledger_hmac(l, input, strlen(input), h);
        snprintf(buf, sizeof buf, "<redacted:%.12s>", h);
        cJSON_SetValuestring(ann, buf);
}

/* Secret-free view of o: every Secret value and every string holding a
 * secret of c becomes "<redacted:HMAC12>" keyed with l. Caller owns it. */
cJSON *plan_object_view(const DesiredObject *o, const Config *c, const Ledger *l) {
        cJSON *j = cJSON_Duplicate(o->body, true);

        if (!j)
                return NULL;
        view_secret_digest(j, o->secret_digest_input, l);
        if (o->holds_secrets) {
                static const char *const fields[] = { "data", "stringData" };
                for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                        cJSON *data = cJSON_GetObjectItemCaseSensitive(j, fields[i]);
                        for (cJSON *d = data ? data->child : NULL; d; d = d->next)
                                if (cJSON_IsString(d))
                                        redact_value(d, l);
                }
        }
        redact_tree(j, c, l);
        return j;
}

void plan_object_digest(const Ledger *l, const DesiredObject *o, char ret[LEDGER_DIGEST_HEX]) {
        ledger_hmac(l, o->canonical, strlen(o->canonical), ret);
}

/* ---- field diffs ------------------------------------------------------ */

typedef struct Field {
        char *path;
        char *value; /* compact JSON, secrets already redacted */
} Field;

typedef struct FieldList {
        Field *items;
        size_t n;
} FieldList;

static void field_list_free(FieldList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].path);
                free(l->items[i].value);
        }
        free(l->items);
}

static int field_add(FieldList *l, const char *path, const cJSON *v) {
        Field *p = realloc(l->items, (l->n + 1) * sizeof *p);

        if (!p)
                return -ENOMEM;
        l->items = p;
        p[l->n] = (Field) { .path = strdup(path), .value = cJSON_PrintUnformatted(v) };
        if (!p[l->n].path || !p[l->n].value) {
                free(p[l->n].path);
                free(p[l->n].value);
                return -ENOMEM;
        }
        l->n++;
        return 0;
}

/* Flattens j into path -> scalar; array elements that are objects with a
 * "name" are addressed by it (env[name=PORT]), which keeps diffs readable. */
static int flatten(const cJSON *j, const char *prefix, FieldList *out) {
        size_t i = 0;

        if (!(cJSON_IsObject(j) || cJSON_IsArray(j)) || !j->child)
                return field_add(out, prefix, j);
        for (const cJSON *c = j->child; c; c = c->next, i++) {
                _cleanup_free_ char *p = NULL;
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
                int r;

                if (cJSON_IsObject(j))
                        r = asprintf(&p, "%s%s%s", prefix, *prefix ? "." : "", c->string);
                else if (cJSON_IsObject(c) && cJSON_IsString(name))
                        r = asprintf(&p, "%s[name=%s]", prefix, name->valuestring);
                else
                        r = asprintf(&p, "%s[%zu]", prefix, i);
                if (r < 0)
                        return -ENOMEM;
                r = flatten(c, p, out);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int cmp_field(const void *a, const void *b) {
        return strcmp(((const Field *) a)->path, ((const Field *) b)->path);
}

/* For printing: "<redacted:abc>" -> "<redacted>" (the digest is for the ledger). */
static const char *shown(const char *v) {
        return strstr(v, "<redacted") ? "<redacted>" : v;
}

int plan_lines_add(char ***lines, size_t *n, const char *format, ...) {
        char **p;
        va_list ap;
        int r;

        assert(lines);
        assert(n);
        assert(format);

        p = realloc(*lines, (*n + 1) * sizeof *p);
        if (!p)
                return -ENOMEM;
        *lines = p;
        va_start(ap, format);
        r = vasprintf(&p[*n], format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        (*n)++;
        return 0;
}

int plan_diff_views(PlanAction *a, const cJSON *old, const cJSON *new) {
        FieldList fo = { 0 }, fn = { 0 };
        size_t i = 0, k = 0;
        int r = 0;

        if (!old)
                return add_change(a, "(the ledger has no view of the applied object)");
        if ((r = flatten(old, "", &fo)) < 0 || (r = flatten(new, "", &fn)) < 0)
                goto finish;
        qsort_safe(fo.items, fo.n, sizeof *fo.items, cmp_field);
        qsort_safe(fn.items, fn.n, sizeof *fn.items, cmp_field);
        while (r >= 0 && (i < fo.n || k < fn.n)) {
                int c = i >= fo.n ? 1 : k >= fn.n ? -1 : strcmp(fo.items[i].path, fn.items[k].path);
                if (c < 0) {
                        r = add_change(a, "%s: %s → (removed)", fo.items[i].path, shown(fo.items[i].value));
                        i++;
                } else if (c > 0) {
                        r = add_change(a, "%s: (added) %s", fn.items[k].path, shown(fn.items[k].value));
                        k++;
                } else {
                        if (!streq(fo.items[i].value, fn.items[k].value))
                                r = add_change(a, "%s: %s → %s%s", fo.items[i].path, shown(fo.items[i].value),
                                               shown(fn.items[k].value),
                                               strstr(fn.items[k].value, "<redacted") ? " (changed)" : "");
                        i++, k++;
                }
        }
finish:
        field_list_free(&fo);
        field_list_free(&fn);
        return r;
}

/* ---- computing the plan ------------------------------------------------ */

PlanAction *plan_action_add(Plan *p, PlanOp op, bool is_client, const char *module) {
        PlanAction *n;

        assert(p);
        assert(module);

        n = realloc(p->actions, (p->n_actions + 1) * sizeof *n);
        if (!n)
                return NULL;
        p->actions = n;
        n = &p->actions[p->n_actions++];
        *n = (PlanAction) { .op = op, .is_client = is_client, .module = strdup(module) };
        return n->module ? n : NULL;
}

int plan_strdup_into(char **dst, const char *s) {
        assert(dst);

        if (!s)
                return 0;
        *dst = strdup(s);
        return *dst ? 0 : -ENOMEM;
}

bool plan_entry_missing(const LedgerObject *e) {
        return e && streq(e->module, PARTIAL_MODULE) && !e->create_only && !e->pending && !e->resource_version &&
               e->digest[0];
}

/* What a partial object sets, for a plan that has nothing to compare it
 * with: its fields below the identity, as additions, without the names that
 * the paths already show (env[name=X].name). */
static int partial_changes(PlanAction *a) {
        _cleanup_(cJSON_Deletep) cJSON *skeleton = cJSON_Duplicate(a->view, true);
        size_t n = 0;
        int r;

        if (!skeleton)
                return -ENOMEM;
        cJSON_DeleteItemFromObjectCaseSensitive(skeleton, "spec");
        r = plan_diff_views(a, skeleton, a->view);
        if (r < 0)
                return r;
        for (size_t i = 0; i < a->n_changes; i++) {
                const char *added = strstr(a->changes[i], ": (added) ");
                size_t len = added ? (size_t) (added - a->changes[i]) : 0;
                if (len > 6 && strncmp(a->changes[i] + len - 6, "].name", 6) == 0)
                        free(a->changes[i]);
                else
                        a->changes[n++] = a->changes[i];
        }
        a->n_changes = n;
        return 0;
}

static int plan_desired_object(Plan *p, const DesiredObject *o, const Config *c, const Ledger *l) {
        const LedgerObject *e = ledger_find_object(l, o->kind, o->namespace, o->name);
        char digest[LEDGER_DIGEST_HEX];
        PlanAction *a;
        int r;

        plan_object_digest(l, o, digest);
        /* A pending write's outcome is unknown: apply again, whatever the digest.
         * A partial object is never created: new to the ledger, it is an update. */
        a = plan_action_add(p, !e ? (o->partial ? PLAN_UPDATE : PLAN_CREATE)
                              : !e->pending && streq(e->digest, digest) ? PLAN_UNCHANGED : PLAN_UPDATE,
                       false, o->modules);
        if (!a)
                return -ENOMEM;
        a->object = o;
        a->adopt = !e && !o->partial; /* the rest of it is the platform's own */
        memcpy(a->digest, digest, sizeof digest);
        if (plan_strdup_into(&a->api_version, o->api_version) < 0 || plan_strdup_into(&a->kind, o->kind) < 0 ||
            plan_strdup_into(&a->namespace, o->namespace) < 0 || plan_strdup_into(&a->name, o->name) < 0)
                return -ENOMEM;
        a->view = plan_object_view(o, c, l);
        if (!a->view)
                return -ENOMEM;
        r = plan_kind_from_ledger(p, a, e);
        if (r != 0)
                return r < 0 ? r : 0;
        if (a->op == PLAN_UNCHANGED && plan_entry_missing(e) &&
            add_note(p, "%s %s/%s (the platform's own) did not exist at the last pass, so the fields of %s were not "
                     "set on it; `nap-agent apply --resync` looks again", o->kind, o->namespace, o->name,
                     o->source) < 0)
                return -ENOMEM;
        if (a->op != PLAN_UPDATE)
                return 0;
        return o->partial && (!e || !e->view) ? partial_changes(a) : plan_diff_views(a, e->view, a->view);
}

static bool object_desired(const DesiredSet *d, const LedgerObject *e) {
        for (size_t i = 0; i < d->n_objects; i++) {
                const DesiredObject *o = &d->objects[i];
                if (streq(o->kind, e->kind) && streq(o->name, e->name) && streq_ptr(o->namespace, e->namespace))
                        return true;
        }
        return false;
}

/* Whether a partial object is desired at all: when none is (its URLs do
 * not resolve, values.env was emptied), what the ledger has of them stays
 * as it is; when one is, the entries of the others were replaced (a new
 * APP_PREFIX or NAMESPACE) and go. */
static bool partial_desired(const DesiredSet *d) {
        for (size_t i = 0; i < d->n_objects; i++)
                if (d->objects[i].partial)
                        return true;
        return false;
}

static bool client_desired(const DesiredSet *d, const char *id) {
        for (size_t i = 0; i < d->n_clients; i++)
                if (streq(d->clients[i].id, id))
                        return true;
        return false;
}

static const char *toggle_key(int m) {
        return m == MODULE_SANDBOX ? "SANDBOX_ENABLED" : "BROWSER_ENABLED";
}

/* Whether what the ledger holds for module may be deleted; else why not. */
static bool may_prune_module(const Config *c, int m, const char **ret_reason) {
        if (m < 0) {
                *ret_reason = "unknown module";
                return false;
        }
        switch (config_module_toggle(c, (Module) m)) {
        case TOGGLE_OFF:
                *ret_reason = m == MODULE_TURN ? "BROWSER_ENABLED=false" : toggle_key(m);
                return true;
        case TOGGLE_ON:
                *ret_reason = "no longer rendered";
                return true;
        case TOGGLE_ABSENT:
                break;
        }
        *ret_reason = NULL;
        return false;
}

/* The same for an object owned by several modules ("sandbox,browser": the
 * browser reads the sandbox's Secret): it goes only when every owner lets it
 * go. *ret_keeper is the module that keeps it, else -1. */
static bool may_prune(const Config *c, const char *modules, const char **ret_reason, int *ret_keeper) {
        const char *first = NULL;

        for (const char *p = modules; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
                char name[32];
                snprintf(name, sizeof name, "%.*s", (int) strcspn(p, ","), p);
                int m = module_from_string(name);
                if (!may_prune_module(c, m, ret_reason)) {
                        *ret_keeper = m;
                        return false;
                }
                first = first ? first : *ret_reason;
        }
        *ret_reason = first ? first : "unknown module";
        *ret_keeper = -1;
        return first != NULL;
}

static int note_kept(Plan *p, const char *module, size_t n_objects, size_t n_clients, const Config *c) {
        int m = module_from_string(module);

        return add_note(p, "%s is not in %s: keeping the %s module's %zu object(s) and %zu oauth client(s) as they "
                        "are (set %s=false to remove them)",
                        toggle_key(m), c->path, module, n_objects, n_clients, toggle_key(m));
}

static int note_client_kept(Plan *p, const char *id, const char *module, bool module_on) {
        return add_note(p, "keeping oauth client \"%s\" of the %s module, which %s: deleting its row would also "
                        "delete its users' refresh tokens and authorization codes", id, module,
                        module_on ? "no longer renders it" : "is off");
}

/* kept[module][0]: objects, [1]: clients a missing toggle line keeps. */
static void count_kept(size_t kept[][2], int m, int what) {
        if (m >= 0)
                kept[m][what]++;
}

static int plan_prunes(Plan *p, const DesiredSet *d, const Config *c, const Ledger *l) {
        size_t kept[_MODULE_MAX][2] = { { 0 } };
        const char *reason;
        int keeper;

        /* Reverse apply order: Deployments, Services, Secrets. */
        for (int rank = 99; rank >= 0; rank--)
                for (size_t i = 0; i < l->n_objects; i++) {
                        const LedgerObject *e = &l->objects[i];
                        if (kind_rank(e->kind) != rank || object_desired(d, e))
                                continue;
                        if (e->create_only) {
                                /* Made once, never deleted (plan-kinds.c): forgotten, left as it is. */
                                if (add_note(p, "no longer making %s %s/%s, which is left as it is (made only when "
                                             "missing, never deleted)", e->kind, strna(e->namespace), e->name) < 0)
                                        return -ENOMEM;
                                continue;
                        }
                        if (streq(e->module, PARTIAL_MODULE)) {
                                /* The platform's own object: never deleted (see plan_forget_partials). */
                                if (partial_desired(d) &&
                                    add_note(p, "no longer setting fields on %s %s/%s, which is left as it is (a "
                                             "partial object is never deleted)", e->kind, strna(e->namespace),
                                             e->name) < 0)
                                        return -ENOMEM;
                                continue;
                        }
                        if (!may_prune(c, e->module, &reason, &keeper)) {
                                count_kept(kept, keeper, 0);
                                continue;
                        }
                        PlanAction *a = plan_action_add(p, PLAN_DELETE, false, e->module);
                        if (!a || plan_strdup_into(&a->api_version, e->api_version) < 0 || plan_strdup_into(&a->kind, e->kind) < 0 ||
                            plan_strdup_into(&a->namespace, e->namespace) < 0 || plan_strdup_into(&a->name, e->name) < 0 ||
                            plan_strdup_into(&a->reason, reason) < 0)
                                return -ENOMEM;
                }
        /* An oauth_clients row is never deleted: the control plane's schema
         * cascades the delete to every refresh token and authorization code
         * of the client. A module turned off keeps its row (unused). */
        for (size_t i = 0; i < l->n_clients; i++) {
                const LedgerClient *e = &l->clients[i];
                if (client_desired(d, e->id))
                        continue;
                if (!may_prune(c, e->module, &reason, &keeper))
                        count_kept(kept, keeper, 1);
                else if (note_client_kept(p, e->id, e->module, streq(reason, "no longer rendered")) < 0)
                        return -ENOMEM;
        }
        for (int m = 0; m < _MODULE_MAX; m++)
                if (m != MODULE_TURN && (kept[m][0] || kept[m][1] || (m == MODULE_BROWSER && kept[MODULE_TURN][0])) &&
                    note_kept(p, module_to_string((Module) m), kept[m][0] + (m == MODULE_BROWSER ? kept[MODULE_TURN][0] : 0),
                              kept[m][1], c) < 0)
                        return -ENOMEM;
        return 0;
}

int plan_compute(const DesiredSet *desired, const Config *c, const Ledger *l, const LedgerDatabase *db, Plan **ret) {
        assert(desired);
        assert(c);
        assert(l);
        assert(ret);

        return plan_compute_live(desired, c, l, db, NULL, NULL, NULL, ret);
}

Plan *plan_free(Plan *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_actions; i++) {
                PlanAction *a = &p->actions[i];
                free(a->module);
                free(a->api_version);
                free(a->kind);
                free(a->namespace);
                free(a->name);
                free(a->client_id);
                free(a->reason);
                cJSON_Delete(a->view);
                for (size_t k = 0; k < a->n_changes; k++)
                        free(a->changes[k]);
                free(a->changes);
        }
        for (size_t i = 0; i < p->n_notes; i++)
                free(p->notes[i]);
        free(p->notes);
        free(p->actions);
        plan_platform_keys_free(p);
        free(p);
        return NULL;
}

size_t plan_count(const Plan *p, PlanOp op, bool clients) {
        size_t n = 0;

        assert(p);

        for (size_t i = 0; i < p->n_actions; i++)
                if (p->actions[i].op == op && p->actions[i].is_client == clients)
                        n++;
        return n;
}

bool plan_has_changes(const Plan *p) {
        assert(p);

        for (size_t i = 0; i < p->n_actions; i++)
                if (p->actions[i].op != PLAN_UNCHANGED)
                        return true;
        return false;
}

char *plan_action_id(const PlanAction *a) {
        char *s;

        assert(a);

        if (a->is_client)
                return asprintf(&s, "oauth client \"%s\"", a->client_id) < 0 ? NULL : s;
        if (a->namespace)
                return asprintf(&s, "%s %s/%s", a->kind, a->namespace, a->name) < 0 ? NULL : s;
        return asprintf(&s, "%s %s", a->kind, a->name) < 0 ? NULL : s;
}

size_t plan_forget_partials(Ledger *l, const DesiredSet *d) {
        size_t n = 0;

        assert(l);
        assert(d);

        for (size_t i = 0; i < l->n_objects;) {
                const LedgerObject *e = &l->objects[i];
                bool partial = streq(e->module, PARTIAL_MODULE) && partial_desired(d);
                if ((partial || e->create_only) && !object_desired(d, e)) {
                        ledger_forget_object(l, e->kind, e->namespace, e->name);
                        n++;
                } else
                        i++;
        }
        return n;
}

static const char *op_word(const PlanAction *a) {
        static const char *const objw[] = { "+ create", "~ update", "- delete", "  unchanged" };
        static const char *const clw[] = { "+ register", "~ update", "- remove", "  unchanged" };
        return a->is_client ? clw[a->op] : objw[a->op];
}

void plan_print(const Plan *p, FILE *f, bool show_unchanged) {
        assert(p);
        assert(f);

        fprintf(f, "Plan: %zu to create, %zu to update, %zu to delete, %zu unchanged; oauth clients: %zu to register, "
                   "%zu to update, %zu to remove, %zu unchanged\n",
                plan_count(p, PLAN_CREATE, false), plan_count(p, PLAN_UPDATE, false), plan_count(p, PLAN_DELETE, false),
                plan_count(p, PLAN_UNCHANGED, false), plan_count(p, PLAN_CREATE, true), plan_count(p, PLAN_UPDATE, true),
                plan_count(p, PLAN_DELETE, true), plan_count(p, PLAN_UNCHANGED, true));
        for (size_t i = 0; i < p->n_actions; i++) {
                const PlanAction *a = &p->actions[i];
                _cleanup_free_ char *id = plan_action_id(a);
                if (a->op == PLAN_UNCHANGED && !show_unchanged)
                        continue;
                if (a->object && a->object->partial)
                        fprintf(f, "%s %s (partial: only the fields below, on the platform's own object", op_word(a),
                                id ? id : "?");
                else
                        fprintf(f, "%s %s (module %s", op_word(a), id ? id : "?", a->module);
                if (a->reason)
                        fprintf(f, ": %s", a->reason);
                fputc(')', f);
                if (a->is_client && a->op == PLAN_CREATE)
                        fprintf(f, " → %s", a->client->redirect_uri);
                fputc('\n', f);
                for (size_t k = 0; k < a->n_changes; k++)
                        fprintf(f, "    %s\n", a->changes[k]);
        }
        for (size_t i = 0; i < p->n_notes; i++)
                fprintf(f, "note: %s\n", p->notes[i]);
        for (size_t i = 0; i < p->n_platform_keys; i++) {
                _cleanup_free_ char *notice = NULL;
                if (p->platform_keys[i].changed && plan_platform_key_notice(&p->platform_keys[i], &notice) >= 0)
                        fprintf(f, "notice: %s\n", notice);
        }
        if (!plan_has_changes(p))
                fprintf(f, "No changes: the cluster and the database match values.env as last applied.\n");
}

int plan_action_record(Ledger *l, const PlanAction *a, const char *resource_version, const char *uid) {
        assert(l);
        assert(a);

        if (a->is_client)
                return plan_action_record_client(l, a, NULL);
        if (a->op == PLAN_DELETE) {
                ledger_forget_object(l, a->kind, a->namespace, a->name);
                return 0;
        }
        cJSON *view = cJSON_Duplicate(a->view, true);
        int r;

        if (!view)
                return -ENOMEM;
        r = ledger_record_object(l, a->api_version, a->kind, a->namespace, a->name, a->module, a->digest,
                                 resource_version, uid, view);
        if (r >= 0 && a->object && a->object->create_only)
                ledger_find_object(l, a->kind, a->namespace, a->name)->create_only = true;
        return r;
}

/* ---- entries the agent did not seal --------------------------------------- */

/* The kinds the shipped templates render; a template of /etc/nap/templates.d
 * may add others, which the desired set then holds. */
static bool kind_rendered(const DesiredSet *d, const char *kind) {
        static const char *const shipped[] = { "Secret", "Service", "Deployment", "DaemonSet" };

        for (size_t i = 0; i < ELEMENTSOF(shipped); i++)
                if (streq(shipped[i], kind))
                        return true;
        for (size_t i = 0; i < d->n_objects; i++)
                if (streq(d->objects[i].kind, kind))
                        return true;
        return false;
}

static bool namespace_rendered(const DesiredSet *d, const Config *c, const char *ns) {
        if (!ns)
                return false; /* nothing the agent renders is cluster-scoped */
        if (streq(ns, config_get(c, "NAMESPACE")))
                return true;
        for (size_t i = 0; i < d->n_objects; i++)
                if (d->objects[i].namespace && streq(d->objects[i].namespace, ns))
                        return true;
        return false;
}

int plan_check_ledger(const DesiredSet *d, const Config *c, Ledger *l, char **ret_message) {
        assert(d);
        assert(c);
        assert(l);
        assert(ret_message);

        *ret_message = NULL;
        for (size_t i = 0; i < l->n_objects; i++) {
                LedgerObject *e = &l->objects[i];
                char why[160];

                if (e->sealed)
                        continue;
                if (!kind_rendered(d, e->kind))
                        snprintf(why, sizeof why, "nap-agent renders no %s", e->kind);
                else if (!namespace_rendered(d, c, e->namespace))
                        snprintf(why, sizeof why, "nap-agent renders nothing %s%s%s: NAMESPACE is '%s'",
                                 e->namespace ? "in namespace '" : "cluster-scoped",
                                 e->namespace ? e->namespace : "", e->namespace ? "'" : "", config_get(c, "NAMESPACE"));
                else {
                        e->sealed = true; /* as it could have been applied: the next save seals it */
                        continue;
                }
                if (asprintf(ret_message, "the ledger '%s' is corrupt: it holds %s %s%s%s, which nap-agent cannot "
                             "have applied (%s) and whose entry lacks the seal nap-agent puts on what it records. "
                             "Nothing is applied or deleted while it is there: remove the entry from the file, or "
                             "move the file aside (nap-agent then reads back from the cluster what it owns)", l->path,
                             e->kind, strempty(e->namespace) ? "" : e->namespace, strempty(e->namespace) ? "" : "/",
                             e->name, why) < 0)
                        return -ENOMEM;
                l->refused = true;
                return -EUCLEAN;
        }
        return 0;
}

int plan_compute_live(const DesiredSet *desired, const Config *c, const Ledger *l, const LedgerDatabase *db,
                      PlanLiveFetch fetch, PlanLiveClient fetch_client, void *userdata, Plan **ret) {
        _cleanup_(plan_freep) Plan *p = NULL;
        int r;

        assert(desired);
        assert(c);
        assert(l);
        assert(ret);

        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        r = plan_prunes(p, desired, c, l);
        for (size_t i = 0; r >= 0 && i < desired->n_objects; i++)
                r = fetch ? plan_live_object(p, &desired->objects[i], c, l, fetch, userdata)
                          : plan_desired_object(p, &desired->objects[i], c, l);
        for (size_t i = 0; r >= 0 && i < desired->n_clients; i++)
                r = fetch_client ? plan_live_client(p, &desired->clients[i], c, l, db, fetch_client, userdata)
                                 : plan_desired_client(p, &desired->clients[i], c, l, db);
        if (r >= 0)
                r = plan_platform_keys_compute(p, c, l);
        if (r >= 0 && fetch)
                r = plan_note_pod_templates(p);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}
