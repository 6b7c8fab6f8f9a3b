/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeconfig.h"
#include "manager.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strbuf.h"

#define DEFAULT_STATE_DIR "/var/lib/nap-agent"

void pass_result_clear(PassResult *r) {
        free(r->status);
        *r = (PassResult) { 0 };
}

static void set_status(PassResult *r, const char *format, ...) _printf_(2, 3);
static void set_status(PassResult *r, const char *format, ...) {
        va_list ap;

        free(r->status);
        va_start(ap, format);
        if (vasprintf(&r->status, format, ap) < 0)
                r->status = NULL;
        va_end(ap);
}

int manager_new(const ManagerOptions *opts, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof *m);
        const char *dir;
        _cleanup_free_ char *warning = NULL;
        int r;

        if (!m)
                return log_error_errno(ENOMEM, "Out of memory");
        m->options = *opts;
        dir = opts->state_dir ? opts->state_dir : getenv("STATE_DIRECTORY");
        if (dir && strchr(dir, ':')) /* systemd lists several as a:b */
                dir = NULL;
        m->state_dir = strdup(dir ? dir : DEFAULT_STATE_DIR);
        if (!m->state_dir)
                return log_error_errno(ENOMEM, "Out of memory");
        r = opts->read_only ? ledger_open_read_only(m->state_dir, &m->ledger, &warning)
                            : ledger_open(m->state_dir, &m->ledger, &warning);
        if (r == -EPROTONOSUPPORT)
                return log_error_errno(r, "Ledger in '%s' was written by a newer nap-agent; refusing to touch it",
                                       m->state_dir);
        if (r < 0)
                return log_error_errno(r, "Failed to open the ledger in '%s': %s", m->state_dir, STRERROR(r));
        if (warning)
                log_warning("%s", warning);
        *ret = TAKE_PTR(m);
        return 0;
}

void manager_close_connections(Manager *m) {
        m->kube = kube_client_free(m->kube);
        m->db = oauth_db_free(m->db);
        free(m->kube_path);
        m->kube_path = NULL;
        if (m->db_conninfo)
                explicit_bzero(m->db_conninfo, strlen(m->db_conninfo));
        free(m->db_conninfo);
        m->db_conninfo = NULL;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        manager_close_connections(m);
        ledger_free(m->ledger);
        free(m->state_dir);
        free(m);
        return NULL;
}

int manager_reload(Manager *m) {
        Ledger *l = NULL;
        _cleanup_free_ char *warning = NULL;
        int r;

        manager_close_connections(m);
        r = m->options.read_only ? ledger_open_read_only(m->state_dir, &l, &warning)
                                 : ledger_open(m->state_dir, &l, &warning);
        if (r < 0)
                return log_error_errno(r, "Failed to reopen the ledger in '%s': %s", m->state_dir, STRERROR(r));
        if (warning)
                log_warning("%s", warning);
        ledger_free(m->ledger);
        m->ledger = l;
        return 0;
}

/* ---- loading ----------------------------------------------------------- */

static void log_diags(const DiagList *d) {
        for (size_t i = 0; i < d->n; i++) {
                _cleanup_free_ char *s = diag_format_short(&d->items[i]);
                int level = d->items[i].severity == DIAG_ERROR ? LOG_ERR
                            : d->items[i].severity == DIAG_WARNING ? LOG_WARNING
                                                                    : LOG_NOTICE;
                const char *sev = d->items[i].severity == DIAG_WARNING ? "warning: " : "";
                if (d->items[i].hint)
                        log_full_errno(level, 0, "%s%s (hint: %s)", sev, s ? s : "?", d->items[i].hint);
                else
                        log_full_errno(level, 0, "%s%s", sev, s ? s : "?");
        }
}

int manager_load_desired(Manager *m, Config **ret_config, DesiredSet **ret_desired, char **ret_status) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(desired_set_freep) DesiredSet *s = NULL;
        const char *path = m->options.values_path;
        int r;

        *ret_status = NULL;
        r = config_load(path, &c, &d);
        if (r >= 0 && !diag_has_errors(&d))
                r = template_render(c, &m->options.templates, &s, &d);
        log_diags(&d);
        if (r == -ENOENT) {
                if (asprintf(ret_status, "%s is missing: nothing applied, nothing deleted", path) < 0)
                        *ret_status = NULL;
                return r;
        }
        if (r >= 0 && diag_has_errors(&d))
                r = -EINVAL;
        if (r < 0) {
                const Diag *e = diag_first_error(&d);
                _cleanup_free_ char *first = e ? diag_format_short(e) : NULL;
                if (asprintf(ret_status, "%s", first ? first : STRERROR(r)) < 0)
                        *ret_status = NULL;
                return r;
        }
        *ret_config = TAKE_PTR(c);
        *ret_desired = TAKE_PTR(s);
        return 0;
}

/* Logs the one line that says why the pass fails, keeps it for STATUS=,
 * and returns -abs(error). */
static int manager_fail(Manager *m, int error, const char *format, ...) _printf_(3, 4);
static int manager_fail(Manager *m, int error, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(m->last_error, sizeof m->last_error, format, ap);
        va_end(ap);
        return log_error_errno(error, "%s", m->last_error);
}

/* ---- connections ------------------------------------------------------- */

int manager_kube(Manager *m, const Config *c, KubeClient **ret) {
        _cleanup_free_ char *path = NULL, *skipped = NULL, *dir = path_dirname(m->options.values_path);
        KubeError err = { 0 };
        int r;

        if (!dir)
                return manager_fail(m, ENOMEM, "Out of memory");
        r = kubeconfig_locate(m->options.kubeconfig, config_get(c, "KUBECONFIG"), dir, &path, &skipped);
        if (r < 0)
                return manager_fail(m, r, "No kubeconfig found: pass --kubeconfig, set KUBECONFIG (in the "
                                          "environment or in values.env), or hand it in with LoadCredential=kubeconfig");
        if (m->kube && m->kube_path && streq(m->kube_path, path)) {
                *ret = m->kube;
                return 0;
        }
        if (skipped)
                log_warning("KUBECONFIG in values.env names '%s', which does not exist, ignoring", skipped);
        m->kube = kube_client_free(m->kube);
        free(m->kube_path);
        m->kube_path = NULL;
        r = kube_client_new(path, &m->options.kube_options, &m->kube, &err);
        if (r < 0)
                return manager_fail(m, r, "Failed to load kubeconfig '%s': %s", path, err.message);
        m->kube_path = TAKE_PTR(path);
        *ret = m->kube;
        return 0;
}

/* The ClusterIP of Service ${APP_PREFIX}-pg-rw, for a conninfo without DATABASE_URL. */
static int pg_service_host(Manager *m, const Config *c, char **ret) {
        _cleanup_free_ char *name = NULL;
        KubeClient *k;
        KubeError err = { 0 };
        cJSON *svc = NULL;
        int r;

        if (asprintf(&name, "%s-pg-rw", config_get(c, "APP_PREFIX")) < 0)
                return -ENOMEM;
        r = manager_kube(m, c, &k);
        if (r < 0)
                return r;
        KubeRef ref = { .api_version = "v1", .kind = "Service", .namespace = config_get(c, "NAMESPACE"), .name = name };
        r = kube_get(k, &ref, &svc, &err);
        if (r < 0)
                return manager_fail(m, r, "Failed to read Service '%s' for the database address (set DATABASE_URL "
                                          "to skip this): %s", name, err.message);
        const cJSON *ip = cJSON_GetObjectItem(cJSON_GetObjectItem(svc, "spec"), "clusterIP");
        r = cJSON_IsString(ip) && !streq(ip->valuestring, "None") && (*ret = strdup(ip->valuestring)) ? 0 : -EADDRNOTAVAIL;
        cJSON_Delete(svc);
        if (r < 0)
                return manager_fail(m, r, "Service '%s' has no ClusterIP; set DATABASE_URL in values.env", name);
        return 0;
}

static int db_conninfo(Manager *m, const Config *c, char **ret) {
        const char *url = getenv("DATABASE_URL");
        _cleanup_free_ char *host = NULL;
        int r;

        if (strempty(url))
                url = config_get(c, "DATABASE_URL");
        if (!strempty(url))
                return (*ret = strdup(url)) ? 0 : -ENOMEM;
        r = pg_service_host(m, c, &host);
        if (r < 0)
                return r;
        *ret = oauth_conninfo_build(config_get(c, "PG_USERNAME"), config_get(c, "PG_PASSWORD"), host, 5432,
                                    config_get(c, "DB_NAME"));
        return *ret ? 0 : -ENOMEM;
}

int manager_db(Manager *m, const Config *c, OAuthDb **ret) {
        _cleanup_free_ char *conninfo = NULL;
        OAuthError err = { 0 };
        int r;

        r = db_conninfo(m, c, &conninfo);
        if (r < 0)
                return r;
        if (m->db && m->db_conninfo && streq(m->db_conninfo, conninfo)) {
                *ret = m->db;
                return 0;
        }
        m->db = oauth_db_free(m->db);
        free(m->db_conninfo);
        m->db_conninfo = NULL;
        r = oauth_db_connect(conninfo, NULL, &m->db, &err);
        if (r < 0)
                return manager_fail(m, r, "Failed to connect to the database: %s", err.message);
        m->db_conninfo = TAKE_PTR(conninfo);
        *ret = m->db;
        return 0;
}

/* ---- applying ---------------------------------------------------------- */

static bool is_immutable_error(int r, const KubeError *err) {
        return r == -EINVAL && (strstr(err->message, "field is immutable") || strstr(err->message, "may not change"));
}

static int delete_object(Manager *m, KubeClient *k, const PlanAction *a, const char *id, const char *reason,
                         PassResult *res) {
        KubeRef ref = { .api_version = a->api_version, .kind = a->kind, .namespace = a->namespace, .name = a->name };
        KubeError err = { 0 };
        bool existed = false;
        int r;

        r = kube_delete(k, &ref, &existed, &err);
        if (r < 0)
                return manager_fail(m, r, "Failed to delete %s: %s", id, err.message);
        log_info("deleted %s (%s)%s", id, reason, existed ? "" : ", it was already gone");
        res->objects_deleted++;
        return 0;
}

/* Applies one object; a change Kubernetes cannot make in place (an
 * immutable field) is made by deleting and creating the object again. */
static int apply_object(Manager *m, KubeClient *k, const PlanAction *a, const char *id, bool resync,
                        PassResult *res) {
        const LedgerObject *e = ledger_find_object(m->ledger, a->kind, a->namespace, a->name);
        KubeApplyResult ar = { 0 };
        KubeError err = { 0 };
        int r;

        r = kube_apply(k, a->object->body, e ? e->resource_version : NULL, a->adopt ? KUBE_APPLY_ADOPT : 0, &ar, &err);
        if (is_immutable_error(r, &err)) {
                log_notice("%s cannot be changed in place (%s); deleting and creating it again", id, err.message);
                r = delete_object(m, k, a, id, "to create it again", res);
                if (r < 0)
                        return r;
                res->objects_deleted--; /* a replacement, not a prune */
                kube_error_clear(&err);
                r = kube_apply(k, a->object->body, NULL, 0, &ar, &err);
        }
        if (r < 0)
                return manager_fail(m, r, "Failed to apply %s: %s", id, err.message);
        if (ar.adopted)
                log_notice("adopted %s: fields owned by the old installer now belong to nap-agent", id);
        if (resync && a->op == PLAN_UNCHANGED) {
                if (ar.changed) {
                        log_notice("repaired drift on %s%s", id, ar.created ? " (it had been deleted)" : "");
                        res->objects_repaired++;
                } else
                        res->objects_unchanged++;
        } else {
                log_info("%s %s", ar.created ? "created" : ar.changed ? "updated" : "applied (already as desired)", id);
                res->objects_applied++;
        }
        r = plan_action_record(m->ledger, a, ar.resource_version);
        kube_apply_result_clear(&ar);
        if (r < 0)
                return manager_fail(m, r, "Out of memory");
        return 0;
}

static int apply_objects(Manager *m, const Config *c, const Plan *p, bool resync, PassResult *res) {
        KubeClient *k = NULL;
        int r;

        for (size_t i = 0; i < p->n_actions; i++) {
                const PlanAction *a = &p->actions[i];
                _cleanup_free_ char *id = NULL;

                if (a->is_client || (a->op == PLAN_UNCHANGED && !resync))
                        continue;
                if (!k && (r = manager_kube(m, c, &k)) < 0)
                        return r;
                id = plan_action_id(a);
                if (!id)
                        return manager_fail(m, ENOMEM, "Out of memory");
                r = a->op == PLAN_DELETE ? delete_object(m, k, a, id, a->reason ? a->reason : "pruned", res)
                                         : apply_object(m, k, a, id, resync, res);
                if (r >= 0 && a->op == PLAN_DELETE)
                        r = plan_action_record(m->ledger, a, NULL);
                /* The ledger follows every success at once, so a crash
                 * between two objects loses nothing. */
                int k2 = ledger_commit(m->ledger);
                if (k2 < 0)
                        log_warning_errno(k2, "Failed to save the ledger, ignoring: %s", STRERROR(k2));
                if (r < 0)
                        return r;
        }
        return 0;
}

static void log_client_change(const PlanAction *a, OAuthChange ch, bool resync, PassResult *res) {
        switch (ch) {
        case OAUTH_CREATED:
        case OAUTH_UPDATED:
                if (resync && a->op == PLAN_UNCHANGED) {
                        log_notice("repaired oauth client \"%s\" (its row had been %s)", a->client_id,
                                   ch == OAUTH_CREATED ? "deleted" : "changed");
                        res->clients_repaired++;
                } else
                        res->clients_changed++;
                log_info("registered \"%s\" → %s", a->client_id, a->client->redirect_uri);
                break;
        case OAUTH_DELETED:
                log_info("removed oauth client \"%s\" (%s)", a->client_id, a->reason ? a->reason : "pruned");
                res->clients_changed++;
                break;
        case OAUTH_ABSENT:
                log_info("oauth client \"%s\" was already gone", a->client_id);
                res->clients_changed++;
                break;
        case OAUTH_UNCHANGED:
        case _OAUTH_CHANGE_MAX:
                break;
        }
}

static int apply_clients(Manager *m, const Config *c, const Plan *p, bool resync, PassResult *res) {
        _cleanup_free_ OAuthClientSpec *specs = calloc(p->n_actions + 1, sizeof *specs);
        _cleanup_free_ const char **dels = calloc(p->n_actions + 1, sizeof *dels);
        _cleanup_free_ const PlanAction **order = calloc(p->n_actions + 1, sizeof *order);
        _cleanup_free_ OAuthChange *changes = calloc(p->n_actions + 1, sizeof *changes);
        size_t ns = 0, nd = 0;
        OAuthError err = { 0 };
        OAuthDb *db;
        int r;

        if (!specs || !dels || !order || !changes)
                return manager_fail(m, ENOMEM, "Out of memory");
        for (size_t i = 0; i < p->n_actions; i++) {
                const PlanAction *a = &p->actions[i];
                if (a->is_client && a->op != PLAN_DELETE && (a->op != PLAN_UNCHANGED || resync)) {
                        specs[ns] = (OAuthClientSpec) { a->client->id, a->client->name, a->client->redirect_uri };
                        order[ns++] = a;
                }
        }
        for (size_t i = 0; i < p->n_actions; i++) {
                const PlanAction *a = &p->actions[i];
                if (a->is_client && a->op == PLAN_DELETE) {
                        dels[nd] = a->client_id;
                        order[ns + nd++] = a;
                }
        }
        if (ns + nd == 0)
                return 0;
        r = manager_db(m, c, &db);
        if (r < 0)
                return r;
        r = oauth_sync(db, specs, ns, dels, nd, changes, &err);
        if (r < 0)
                return manager_fail(m, r, "Failed to sync oauth_clients: %s", err.message);
        for (size_t i = 0; i < ns + nd; i++) {
                log_client_change(order[i], changes[i], resync, res);
                if (plan_action_record(m->ledger, order[i], NULL) < 0)
                        return manager_fail(m, ENOMEM, "Out of memory");
        }
        r = ledger_commit(m->ledger);
        if (r < 0)
                log_warning_errno(r, "Failed to save the ledger, ignoring: %s", STRERROR(r));
        return 0;
}

static void describe(PassResult *res, const Manager *m, bool changed) {
        if (!changed && !res->objects_repaired && !res->clients_repaired) {
                set_status(res, "no changes; generation %llu", (unsigned long long) m->ledger->generation);
                return;
        }
        set_status(res, "applied %u object(s), deleted %u, %u oauth client change(s)%s; generation %llu",
                   res->objects_applied, res->objects_deleted, res->clients_changed,
                   res->objects_repaired || res->clients_repaired ? " (drift repaired)" : "",
                   (unsigned long long) m->ledger->generation);
}

static void finish_pass(Manager *m, int r, PassResult *res) {
        if (r < 0 && !res->status)
                set_status(res, "%s; keeping generation %llu", m->last_error[0] ? m->last_error : STRERROR(r),
                           (unsigned long long) m->ledger->generation);
        if (ledger_set_last_pass(m->ledger, r >= 0, res->status) < 0 || ledger_commit(m->ledger) < 0)
                log_warning("Failed to save the ledger, ignoring");
}

int manager_pass(Manager *m, unsigned flags, PassResult *res) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(desired_set_freep) DesiredSet *d = NULL;
        _cleanup_(plan_freep) Plan *p = NULL;
        _cleanup_free_ char *why = NULL;
        bool resync = flags & PASS_RESYNC, changed;
        int r;

        *res = (PassResult) { 0 };
        if (m->options.read_only)
                return -EROFS;
        m->last_error[0] = 0;
        r = manager_load_desired(m, &c, &d, &why);
        if (r < 0) {
                res->invalid_values = true;
                set_status(res, "%s; keeping generation %llu", why ? why : STRERROR(r),
                           (unsigned long long) m->ledger->generation);
                finish_pass(m, r, res);
                return r;
        }
        r = plan_compute(d, c, m->ledger, &p);
        if (r < 0)
                return manager_fail(m, r, "Failed to plan: %s", STRERROR(r));
        for (size_t i = 0; i < p->n_notes; i++)
                log_notice("%s", p->notes[i]);
        if (flags & PASS_CLIENTS_ONLY) {
                r = apply_clients(m, c, p, true, res);
        } else {
                r = apply_objects(m, c, p, resync, res);
                if (r >= 0)
                        r = apply_clients(m, c, p, resync, res);
        }
        /* A generation is what was written, not what was planned (seed
         * plans objects too but writes only clients). */
        changed = res->objects_applied || res->objects_deleted || res->clients_changed;
        if (r >= 0 && (changed || res->objects_repaired || res->clients_repaired))
                m->ledger->generation++;
        if (r >= 0)
                describe(res, m, changed);
        finish_pass(m, r, res);
        return r;
}
