/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One reconcile pass, as a state machine on the manager's sd-event loop:
 *
 *   begin: load values.env, render, (rebuild the ledger from the cluster
 *          when it was lost), plan
 *   objects: the plan's object actions in groups of one dependency rank
 *          (deletes: Deployments, Services, Secrets; then applies: Secrets,
 *          Services, Deployments); a group's requests run at once, the next
 *          group starts when the last one of it has answered
 *   clients: the oauth_clients rows, at the same time as the objects
 *   finish: the generation, the status line, the ledger saved
 *
 * Before each write the ledger records an intent and is saved, and each
 * answer settles it, so a write whose answer is lost (a timeout, a kill)
 * still counts as the agent's: reverting the edit prunes it. A pass has a
 * deadline; when it expires, what is in flight is dropped and the pass
 * fails (its intents stay, the next pass repeats those writes).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager.h"
#include "util/json.h"
#include "util/log.h"

#define DEFAULT_PASS_DEADLINE_MS 60000u
#define GONE_POLL_USEC (250ULL * 1000ULL)

typedef enum TaskStep {
        TASK_APPLY,
        TASK_DELETE,
        TASK_REPLACE_DELETE, /* an immutable field changed: delete, */
        TASK_REPLACE_WAIT,   /* wait until it is gone, */
        TASK_REPLACE_APPLY,  /* create it again */
        TASK_LIST,           /* rebuilding the ledger: one kind */
} TaskStep;

typedef struct Task Task;
struct Task {
        Pass *pass;
        Task *prev, *next;
        TaskStep step;
        const PlanAction *a;     /* NULL for TASK_LIST */
        const char *api_version; /* TASK_LIST */
        const char *kind;        /* TASK_LIST */
        char *id;
        unsigned flags;          /* of the apply (KUBE_APPLY_*) */
        KubeOp *op;
        sd_event_source *timer;
        bool intent_created;
        bool started;
};

struct Pass {
        Manager *m;
        unsigned flags;
        PassDone done;
        void *userdata;
        sd_event_source *begin;
        sd_event_source *deadline;
        sd_event_source *save;   /* deferred: the ledger after the answers of one loop iteration */
        Config *config;
        DesiredSet *desired;
        Plan *plan;
        PassResult res;
        int error;    /* the first failure, or 0 */
        Task *tasks;  /* running */
        unsigned objects_in_flight;
        size_t next;  /* the plan action the next group starts from */
        bool objects_done;
        unsigned lists_in_flight;
        /* clients */
        bool clients_done;
        KubeOp *pg_op;
        OAuthClientSpec *specs;
        const PlanAction **client_actions;
        size_t n_specs;
        bool db_busy;
};

static void pass_maybe_finish(Pass *p);
static void objects_next_group(Pass *p);
static void clients_start(Pass *p);
static void pass_plan(Pass *p);

/* ---- bookkeeping ------------------------------------------------------------- */

static void set_status(PassResult *r, const char *format, ...) _printf_(2, 3);
static void set_status(PassResult *r, const char *format, ...) {
        va_list ap;

        free(r->status);
        va_start(ap, format);
        if (vasprintf(&r->status, format, ap) < 0)
                r->status = NULL;
        va_end(ap);
}

/* Notes a failure: the first one is what the pass reports. */
static void pass_fail(Pass *p, int error, const char *format, ...) _printf_(3, 4);
static void pass_fail(Pass *p, int error, const char *format, ...) {
        char line[sizeof p->m->last_error];
        va_list ap;

        va_start(ap, format);
        vsnprintf(line, sizeof line, format, ap);
        va_end(ap);
        if (p->error == 0) {
                p->error = -abs(error);
                snprintf(p->m->last_error, sizeof p->m->last_error, "%s", line);
        }
        log_error_errno(error, "%s", line);
}

/* A failure the manager already logged (manager_kube, manager_db_for). */
static void pass_failed(Pass *p, int error) {
        if (p->error == 0)
                p->error = -abs(error);
}

/* Saves the ledger; a pass that cannot record what it did fails. */
static int pass_commit(Pass *p) {
        int r = ledger_commit(p->m->ledger);

        if (r < 0)
                pass_fail(p, r, "Failed to save the ledger in '%s': %s (nothing more is applied until it can be saved)",
                          p->m->state_dir, STRERROR(r));
        return r;
}

static int on_save(sd_event_source *s, void *userdata) {
        Pass *p = userdata;

        p->save = sd_event_source_disable_unref(p->save);
        (void) pass_commit(p);
        return 0;
}

/* Each settled write is saved at once, so that a crash loses nothing; the
 * answers that arrive in one loop iteration share one save. */
static void save_soon(Pass *p) {
        if (!p->save && sd_event_add_defer(p->m->event, &p->save, on_save, p) < 0)
                (void) pass_commit(p);
}

static Task *task_free(Task *t) {
        Pass *p;

        if (!t)
                return NULL;
        p = t->pass;
        if (t->prev)
                t->prev->next = t->next;
        else if (p->tasks == t)
                p->tasks = t->next;
        if (t->next)
                t->next->prev = t->prev;
        kube_op_cancel(t->op);
        sd_event_source_disable_unref(t->timer);
        free(t->id);
        free(t);
        return NULL;
}

static Task *task_new(Pass *p, TaskStep step, const PlanAction *a) {
        Task *t = calloc(1, sizeof *t);

        if (!t)
                return NULL;
        *t = (Task) { .pass = p, .step = step, .a = a, .next = p->tasks };
        if (a && !(t->id = plan_action_id(a))) {
                free(t);
                return NULL;
        }
        if (p->tasks)
                p->tasks->prev = t;
        p->tasks = t;
        return t;
}

/* An object task is over: when its group is, save the ledger and go on. */
static void object_task_done(Task *t) {
        Pass *p = t->pass;

        task_free(t);
        if (--p->objects_in_flight > 0) {
                save_soon(p);
                return;
        }
        p->save = sd_event_source_disable_unref(p->save);
        if (pass_commit(p) < 0 || p->error) {
                p->objects_done = true;
                pass_maybe_finish(p);
                return;
        }
        objects_next_group(p);
}

static const LedgerObject *ledger_entry(const Pass *p, const PlanAction *a) {
        return ledger_find_object(p->m->ledger, a->kind, a->namespace, a->name);
}

/* The server answered with an error, so the write did not happen. */
static void abandon_if_refused(Task *t, const KubeError *err) {
        const PlanAction *a = t->a;

        if (err && err->http_status > 0)
                ledger_abandon_intent(t->pass->m->ledger, a->kind, a->namespace, a->name, t->intent_created);
}

/* ---- applying and deleting objects ---------------------------------------------- */

static bool is_immutable_error(int r, const KubeError *err) {
        return r == -EINVAL && err &&
               (strstr(err->message, "field is immutable") || strstr(err->message, "may not change") ||
                /* an older coturn's RollingUpdate parameters under strategy Recreate */
                strstr(err->message, "may not be specified when strategy"));
}

static void on_applied(int r, KubeApplyResult *ar, const KubeError *err, void *userdata);
static void on_deleted(int r, bool existed, const KubeError *err, void *userdata);

/* Before the intent is written: it marks the entry pending. */
static unsigned apply_flags(const Pass *p, const PlanAction *a) {
        const LedgerObject *e = ledger_entry(p, a);
        unsigned flags = a->adopt ? KUBE_APPLY_ADOPT : 0;

        /* A resync reads first and writes only what drifted; so does the
         * first apply of an entry read back from the cluster (no digest). */
        if (((p->flags & PASS_RESYNC) && a->op == PLAN_UNCHANGED) || (e && !e->digest[0] && !e->pending))
                flags |= KUBE_APPLY_RESYNC;
        return flags;
}

static int task_start_apply(Task *t, unsigned flags) {
        const LedgerObject *e = ledger_entry(t->pass, t->a);

        return kube_apply_start(t->pass->m->kube, t->a->object->body, e ? e->resource_version : NULL, flags,
                                on_applied, t, &t->op);
}

static int task_start_delete(Task *t) {
        const PlanAction *a = t->a;
        KubeRef ref = { .api_version = a->api_version, .kind = a->kind, .namespace = a->namespace, .name = a->name };

        return kube_delete_start(t->pass->m->kube, &ref, on_deleted, t, &t->op);
}

static void log_applied(Task *t, const KubeApplyResult *ar) {
        Pass *p = t->pass;

        if (ar->adopted)
                log_notice("adopted %s: the fields install.sh's kubectl applied now belong to nap-agent", t->id);
        if (t->step == TASK_REPLACE_APPLY) {
                log_info("created %s again", t->id);
                p->res.objects_applied++;
        } else if (t->flags & KUBE_APPLY_RESYNC) {
                if (ar->changed) {
                        log_notice("repaired drift on %s%s", t->id, ar->created ? " (it had been deleted)" : "");
                        p->res.objects_repaired++;
                } else
                        p->res.objects_unchanged++;
        } else {
                log_info("%s %s", ar->created ? "created" : ar->changed ? "updated" : "applied (already as desired)",
                         t->id);
                p->res.objects_applied++;
        }
}

static void on_gone_check(int r, cJSON *obj, const KubeError *err, void *userdata);

static int on_gone_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Task *t = userdata;
        _cleanup_free_ char *path = NULL;
        KubeRef ref = { t->a->api_version, t->a->kind, t->a->namespace, t->a->name };
        int r;

        t->timer = sd_event_source_disable_unref(t->timer);
        r = kube_path(&ref, &path);
        if (r >= 0)
                r = kube_get_start(t->pass->m->kube, path, on_gone_check, t, &t->op);
        if (r < 0) {
                pass_fail(t->pass, r, "Failed to check that %s is gone: %s", t->id, STRERROR(r));
                object_task_done(t);
        }
        return 0;
}

/* Waiting for a replaced object to be gone before creating it again. */
static void on_gone_check(int r, cJSON *obj, const KubeError *err, void *userdata) {
        Task *t = userdata;

        t->op = NULL;
        cJSON_Delete(obj);
        if (r == -ENOENT) {
                t->step = TASK_REPLACE_APPLY;
                r = task_start_apply(t, 0);
                if (r >= 0)
                        return;
        } else if (r >= 0) {
                r = sd_event_add_time_relative(t->pass->m->event, &t->timer, CLOCK_MONOTONIC, GONE_POLL_USEC, 1000,
                                               on_gone_timer, t);
                if (r >= 0)
                        return;
        }
        pass_fail(t->pass, r, "Failed to replace %s: %s", t->id, err ? err->message : STRERROR(r));
        object_task_done(t);
}

static void on_applied(int r, KubeApplyResult *ar, const KubeError *err, void *userdata) {
        Task *t = userdata;
        Pass *p = t->pass;

        t->op = NULL;
        if (t->step == TASK_APPLY && is_immutable_error(r, err)) {
                log_notice("%s cannot be changed in place (%s); deleting it, waiting until it is gone, and "
                           "creating it again", t->id, err->message);
                t->step = TASK_REPLACE_DELETE;
                r = task_start_delete(t);
                if (r >= 0)
                        return;
        }
        if (r < 0) {
                abandon_if_refused(t, err);
                pass_fail(p, r, "Failed to apply %s: %s", t->id, err ? err->message : STRERROR(r));
        } else {
                log_applied(t, ar);
                r = plan_action_record(p->m->ledger, t->a, ar->resource_version);
                if (r >= 0 && ar->changed)
                        r = pass_result_add_workload(&p->res, t->a->module, ar->live); /* followed after the pass */
                if (r < 0)
                        pass_fail(p, r, "Out of memory");
        }
        object_task_done(t);
}

static void on_deleted(int r, bool existed, const KubeError *err, void *userdata) {
        Task *t = userdata;
        Pass *p = t->pass;
        const PlanAction *a = t->a;

        t->op = NULL;
        if (r >= 0 && t->step == TASK_REPLACE_DELETE) {
                t->step = TASK_REPLACE_WAIT;
                on_gone_check(0, NULL, NULL, t);
                return;
        }
        if (r < 0) {
                abandon_if_refused(t, err);
                pass_fail(p, r, "Failed to delete %s: %s", t->id, err ? err->message : STRERROR(r));
        } else {
                log_info("deleted %s (%s)%s", t->id, a->reason ? a->reason : "pruned",
                         existed ? "" : ", it was already gone");
                p->res.objects_deleted++;
                (void) plan_action_record(p->m->ledger, a, NULL);
        }
        object_task_done(t);
}

/* ---- groups of one rank ----------------------------------------------------------- */

static bool action_relevant(const Pass *p, const PlanAction *a) {
        const LedgerObject *e;

        if (a->is_client || (p->flags & PASS_CLIENTS_ONLY))
                return false;
        if (a->op != PLAN_UNCHANGED || (p->flags & PASS_RESYNC))
                return true;
        e = ledger_entry(p, a);
        return e && !e->digest[0];
}

static bool same_group(const PlanAction *x, const PlanAction *y) {
        return (x->op == PLAN_DELETE) == (y->op == PLAN_DELETE) && kind_rank(x->kind) == kind_rank(y->kind);
}

/* The group's tasks, each with its intent in the ledger (not saved yet). */
static int group_prepare(Pass *p, size_t from, size_t to) {
        for (size_t i = from; i < to; i++) {
                const PlanAction *a = &p->plan->actions[i];
                Task *t;
                int r;

                if (!action_relevant(p, a))
                        continue;
                t = task_new(p, a->op == PLAN_DELETE ? TASK_DELETE : TASK_APPLY, a);
                if (!t)
                        return -ENOMEM;
                t->flags = a->op == PLAN_DELETE ? 0 : apply_flags(p, a);
                r = ledger_intend_object(p->m->ledger, a->api_version, a->kind, a->namespace, a->name, a->module,
                                         a->op == PLAN_DELETE ? "delete" : "apply", &t->intent_created);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Sends the group's requests, all at once. */
static void group_launch(Pass *p) {
        for (Task *t = p->tasks, *next; t; t = next) {
                int r;

                next = t->next;
                if (t->started)
                        continue;
                t->started = true;
                r = p->error ? -ECANCELED : t->step == TASK_DELETE ? task_start_delete(t) : task_start_apply(t, t->flags);
                if (r < 0) {
                        if (r != -ECANCELED)
                                pass_fail(p, r, "Failed to start applying %s: %s", t->id, STRERROR(r));
                        task_free(t);
                        continue;
                }
                p->objects_in_flight++;
        }
}

static void objects_next_group(Pass *p) {
        const Plan *plan = p->plan;
        KubeClient *k;
        size_t from, to;
        int r;

        while (p->next < plan->n_actions && !action_relevant(p, &plan->actions[p->next]))
                p->next++;
        if (p->next >= plan->n_actions || p->error) {
                p->objects_done = true;
                pass_maybe_finish(p);
                return;
        }
        from = p->next;
        for (to = from + 1; to < plan->n_actions; to++)
                if (!plan->actions[to].is_client && !same_group(&plan->actions[from], &plan->actions[to]))
                        break;
        p->next = to;

        r = manager_kube(p->m, p->config, &k);
        if (r < 0)
                pass_failed(p, r);
        else if ((r = group_prepare(p, from, to)) < 0)
                pass_fail(p, r, "Out of memory");
        else
                (void) pass_commit(p);
        group_launch(p); /* after a failure, this drops the prepared tasks */
        if (p->objects_in_flight == 0) {
                /* Nothing started: a failure (or nothing relevant after all). */
                if (p->error) {
                        p->objects_done = true;
                        pass_maybe_finish(p);
                } else
                        objects_next_group(p);
        }
}

/* ---- the ledger read back from the cluster ------------------------------------------- */

static const char *const rebuild_kinds[][2] = {
        { "v1", "Secret" },
        { "v1", "Service" },
        { "apps/v1", "Deployment" },
        { "apps/v1", "DaemonSet" },
};

static bool applied_by_us(const cJSON *item) {
        const cJSON *e;

        cJSON_ArrayForEach(e, JSON_GET(item, "metadata", "managedFields")) {
                const char *manager = json_string(e, "manager"), *op = json_string(e, "operation");
                if (manager && op && streq(manager, KUBE_FIELD_MANAGER) && streq(op, "Apply"))
                        return true;
        }
        return false;
}

/* The module an object read back belongs to: the desired object's, else its component label. */
static const char *rebuilt_module(const Pass *p, const char *kind, const char *name, const cJSON *item) {
        const char *component = json_string(JSON_GET(item, "metadata", "labels"), "app.kubernetes.io/component");

        for (size_t i = 0; i < p->desired->n_objects; i++) {
                const DesiredObject *o = &p->desired->objects[i];
                if (streq(o->kind, kind) && streq(o->name, name))
                        return module_to_string(o->module);
        }
        return component && module_from_string(component) >= 0 ? component : NULL;
}

static int record_listed(Pass *p, const char *api_version, const char *kind, const cJSON *list, unsigned *n) {
        const cJSON *item;

        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(list, "items")) {
                const cJSON *md = cJSON_GetObjectItemCaseSensitive(item, "metadata");
                const char *name = json_string(md, "name"), *ns = json_string(md, "namespace");
                const char *module = name ? rebuilt_module(p, kind, name, item) : NULL;
                int r;

                if (!module || !applied_by_us(item) || ledger_find_object(p->m->ledger, kind, ns, name))
                        continue;
                r = ledger_record_object(p->m->ledger, api_version, kind, ns, name, module, "",
                                         json_string(md, "resourceVersion"), NULL);
                if (r < 0)
                        return r;
                (*n)++;
        }
        return 0;
}

static void on_listed(int r, cJSON *list, const KubeError *err, void *userdata) {
        Task *t = userdata;
        Pass *p = t->pass;
        unsigned n = 0;

        t->op = NULL;
        if (r < 0)
                pass_fail(p, r, "Failed to read back what nap-agent applied (%ss): %s", t->kind,
                          err ? err->message : STRERROR(r));
        else if ((r = record_listed(p, t->api_version, t->kind, list, &n)) < 0)
                pass_fail(p, r, "Out of memory");
        else if (n > 0)
                log_notice("read back %u %s(s) nap-agent had applied", n, t->kind);
        cJSON_Delete(list);
        task_free(t);
        if (--p->lists_in_flight > 0)
                return;
        if (p->error) {
                p->objects_done = p->clients_done = true;
                pass_maybe_finish(p);
                return;
        }
        p->m->ledger->rebuild = false;
        if (pass_commit(p) < 0) {
                p->objects_done = p->clients_done = true;
                pass_maybe_finish(p);
                return;
        }
        pass_plan(p);
}

/* The ledger was lost or unparsable: list the objects that carry the
 * agent's label and have its Apply entry, so that they are the agent's
 * again instead of being adopted (which would take over what operators
 * set with kubectl) or forgotten (never pruned). */
static int rebuild_start(Pass *p) {
        KubeClient *k;
        int r;

        r = manager_kube(p->m, p->config, &k);
        if (r < 0)
                return r; /* logged */
        for (size_t i = 0; i < ELEMENTSOF(rebuild_kinds); i++) {
                _cleanup_free_ char *path = NULL, *query = NULL;
                Task *t = task_new(p, TASK_LIST, NULL);

                if (!t)
                        return -ENOMEM;
                t->api_version = rebuild_kinds[i][0];
                t->kind = rebuild_kinds[i][1];
                r = kube_collection_path(t->api_version, t->kind, config_get(p->config, "NAMESPACE"), &path);
                if (r >= 0 && asprintf(&query, "%s?labelSelector=" MANAGED_BY_LABEL "%%3Dnap-agent", path) < 0)
                        r = -ENOMEM;
                if (r >= 0)
                        r = kube_get_start(k, query, on_listed, t, &t->op);
                if (r < 0) {
                        task_free(t);
                        return r;
                }
                p->lists_in_flight++;
        }
        return 0;
}

/* ---- the pass ---------------------------------------------------------------------- */

static void describe(Pass *p) {
        PassResult *res = &p->res;
        unsigned long long gen = (unsigned long long) p->m->ledger->generation;
        bool changed = res->objects_applied || res->objects_deleted || res->clients_changed;

        if (!changed && !res->objects_repaired && !res->clients_repaired) {
                set_status(res, "no changes; generation %llu", gen);
                return;
        }
        set_status(res, "applied %u object(s), deleted %u, %u oauth client change(s)%s; generation %llu",
                   res->objects_applied, res->objects_deleted, res->clients_changed,
                   res->objects_repaired || res->clients_repaired ? " (drift repaired)" : "", gen);
}

static void pass_free(Pass *p) {
        while (p->tasks)
                task_free(p->tasks);
        kube_op_cancel(p->pg_op);
        if (p->db_busy && p->m->db)
                oauth_cancel(p->m->db);
        sd_event_source_disable_unref(p->begin);
        sd_event_source_disable_unref(p->deadline);
        sd_event_source_disable_unref(p->save);
        plan_free(p->plan);
        desired_set_free(p->desired);
        config_free(p->config);
        free(p->specs);
        free(p->client_actions);
        pass_result_clear(&p->res);
        free(p);
}

/* The rows of modules turned off stay (plan.c says why): say so in the ledger. */
static void mark_kept_clients(Pass *p) {
        Ledger *l = p->m->ledger;

        for (size_t i = 0; i < l->n_clients; i++) {
                bool desired = false;
                for (size_t k = 0; k < p->desired->n_clients; k++)
                        if (streq(p->desired->clients[k].id, l->clients[i].id))
                                desired = true;
                l->clients[i].kept = !desired;
        }
}

static void pass_finish(Pass *p) {
        Manager *m = p->m;
        PassDone done = p->done;
        void *userdata = p->userdata;
        int r = p->error;

        if (p->plan)
                mark_kept_clients(p);
        if (r >= 0 && pass_result_wrote(&p->res))
                m->ledger->generation++; /* what was written, not what was planned */
        if (r >= 0)
                describe(p);
        else if (!p->res.status)
                set_status(&p->res, "%s; keeping generation %llu", m->last_error[0] ? m->last_error : STRERROR(r),
                           (unsigned long long) m->ledger->generation);
        if (ledger_set_last_pass(m->ledger, r >= 0, p->res.status) < 0 || pass_commit(p) < 0) {
                if (r >= 0)
                        set_status(&p->res, "%s", m->last_error);
                r = p->error;
        }
        m->pass = NULL;
        done(m, r, &p->res, userdata);
        pass_free(p);
}

static void pass_maybe_finish(Pass *p) {
        if (p->objects_done && p->clients_done && !p->tasks && p->lists_in_flight == 0)
                pass_finish(p);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Pass *p = userdata;
        unsigned ms = p->m->options.pass_deadline_ms ? p->m->options.pass_deadline_ms : DEFAULT_PASS_DEADLINE_MS;

        pass_fail(p, ETIMEDOUT, "The pass did not finish within %.1f s; dropping the requests in flight (they are "
                  "repeated by the next pass)", ms / 1000.0);
        while (p->tasks)
                task_free(p->tasks);
        kube_op_cancel(p->pg_op);
        p->pg_op = NULL;
        if (p->db_busy && p->m->db)
                oauth_cancel(p->m->db);
        p->db_busy = false;
        p->objects_in_flight = p->lists_in_flight = 0;
        p->objects_done = p->clients_done = true;
        pass_maybe_finish(p);
        return 0;
}

/* Plans against the ledger and starts the objects and the clients. */
static void pass_plan(Pass *p) {
        int r;

        r = plan_compute(p->desired, p->config, p->m->ledger, &p->plan);
        if (r < 0) {
                pass_fail(p, r, "Failed to plan: %s", STRERROR(r));
                p->objects_done = p->clients_done = true;
                pass_maybe_finish(p);
                return;
        }
        for (size_t i = 0; i < p->plan->n_notes; i++)
                log_notice("%s", p->plan->notes[i]);
        clients_start(p);
        objects_next_group(p);
}

static int on_begin(sd_event_source *s, void *userdata) {
        Pass *p = userdata;
        _cleanup_free_ char *why = NULL;
        int r;

        p->begin = sd_event_source_disable_unref(p->begin);
        r = manager_load_desired(p->m, &p->config, &p->desired, &why);
        if (r < 0) {
                p->error = r;
                p->res.invalid_values = true;
                set_status(&p->res, "%s; keeping generation %llu", why ? why : STRERROR(r),
                           (unsigned long long) p->m->ledger->generation);
                p->objects_done = p->clients_done = true;
                pass_maybe_finish(p);
                return 0;
        }
        if (p->m->ledger->rebuild && !(p->flags & PASS_CLIENTS_ONLY)) {
                r = rebuild_start(p);
                if (r < 0) {
                        if (p->m->last_error[0])
                                pass_failed(p, r);
                        else
                                pass_fail(p, r, "Failed to read back what nap-agent applied: %s", STRERROR(r));
                        while (p->tasks)
                                task_free(p->tasks);
                        p->lists_in_flight = 0;
                        p->objects_done = p->clients_done = true;
                        pass_maybe_finish(p);
                }
                return 0;
        }
        pass_plan(p);
        return 0;
}

int manager_pass_start(Manager *m, unsigned flags, PassDone done, void *userdata) {
        unsigned ms = m->options.pass_deadline_ms ? m->options.pass_deadline_ms : DEFAULT_PASS_DEADLINE_MS;
        Pass *p;
        int r;

        if (m->options.read_only)
                return -EROFS;
        if (m->pass)
                return -EBUSY;
        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        *p = (Pass) { .m = m, .flags = flags, .done = done, .userdata = userdata };
        m->last_error[0] = 0;
        r = sd_event_add_defer(m->event, &p->begin, on_begin, p);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &p->deadline, CLOCK_MONOTONIC, (uint64_t) ms * 1000ULL, 1000,
                                               on_deadline, p);
        if (r < 0) {
                pass_free(p);
                return r;
        }
        (void) sd_event_source_set_description(p->begin, "pass-begin");
        (void) sd_event_source_set_description(p->deadline, "pass-deadline");
        m->pass = p;
        return 0;
}

bool manager_pass_cancel(Manager *m, const char *why) {
        _cleanup_free_ char *status = NULL;
        Pass *p = m->pass;

        if (!p)
                return false;
        m->pass = NULL;
        pass_free(p);
        if (m->options.read_only)
                return true;
        if (why && asprintf(&status, "%s: the pass in progress was cancelled (what it had in flight is repeated by "
                            "the next pass); keeping generation %llu", why,
                            (unsigned long long) m->ledger->generation) >= 0)
                (void) ledger_set_last_pass(m->ledger, false, status);
        /* Intents of what was in flight stay: the next pass repeats them. */
        (void) ledger_commit(m->ledger);
        return true;
}

bool manager_pass_running(const Manager *m) {
        return m->pass;
}

typedef struct SyncPass {
        bool done;
        int r;
        PassResult res;
} SyncPass;

static void sync_done(Manager *m, int r, PassResult *res, void *userdata) {
        SyncPass *s = userdata;

        s->done = true;
        s->r = r;
        s->res = *res;
        *res = (PassResult) { 0 };
}

int manager_pass(Manager *m, unsigned flags, PassResult *ret) {
        SyncPass s = { 0 };
        int r;

        *ret = (PassResult) { 0 };
        r = manager_pass_start(m, flags, sync_done, &s);
        while (r >= 0 && !s.done)
                r = sd_event_run(m->event, UINT64_MAX);
        if (r < 0 && !s.done) {
                manager_pass_cancel(m, NULL);
                return r;
        }
        *ret = s.res;
        return s.r;
}

/* ---- the oauth_clients rows ----------------------------------------------------------- */

static void log_client_change(Pass *p, const PlanAction *a, OAuthChange ch) {
        bool resync = (p->flags & (PASS_RESYNC | PASS_CLIENTS_ONLY)) && a->op == PLAN_UNCHANGED;

        switch (ch) {
        case OAUTH_CREATED:
        case OAUTH_UPDATED:
                if (resync) {
                        log_notice("repaired oauth client \"%s\" (its row had been %s)", a->client_id,
                                   ch == OAUTH_CREATED ? "deleted" : "changed");
                        p->res.clients_repaired++;
                } else
                        p->res.clients_changed++;
                log_info("registered \"%s\" → %s", a->client_id, a->client->redirect_uri);
                break;
        default:
                break;
        }
}

static void on_synced(OAuthDb *db, int r, const OAuthChange *changes, const OAuthError *err, void *userdata) {
        Pass *p = userdata;

        p->db_busy = false;
        if (r < 0)
                pass_fail(p, r, "Failed to sync oauth_clients: %s", err ? err->message : STRERROR(r));
        for (size_t i = 0; r >= 0 && i < p->n_specs; i++) {
                log_client_change(p, p->client_actions[i], changes[i]);
                if (plan_action_record(p->m->ledger, p->client_actions[i], NULL) < 0)
                        pass_fail(p, ENOMEM, "Out of memory");
        }
        p->clients_done = true;
        pass_maybe_finish(p);
}

static void clients_sync(Pass *p, const char *conninfo) {
        OAuthDb *db;
        int r;

        r = manager_db_for(p->m, conninfo, &db);
        if (r < 0)
                pass_failed(p, r);
        else if ((r = oauth_sync_start(db, p->specs, p->n_specs, NULL, 0, on_synced, p)) < 0)
                pass_fail(p, r, "Failed to sync oauth_clients: %s", STRERROR(r));
        if (r < 0) {
                p->clients_done = true;
                pass_maybe_finish(p);
                return;
        }
        p->db_busy = true;
}

static void on_pg_service(int r, cJSON *svc, const KubeError *err, void *userdata) {
        Pass *p = userdata;
        _cleanup_free_ char *conninfo = NULL;
        const char *ip = json_string(JSON_GET(svc, "spec"), "clusterIP");

        p->pg_op = NULL;
        if (r < 0 || !ip || streq(ip, "None")) {
                pass_fail(p, r < 0 ? r : -EADDRNOTAVAIL, "Failed to find the database (set DATABASE_URL in values.env "
                          "to skip this): Service '%s-pg-rw': %s", config_get(p->config, "APP_PREFIX"),
                          r < 0 && err ? err->message : "it has no ClusterIP");
                cJSON_Delete(svc);
                p->clients_done = true;
                pass_maybe_finish(p);
                return;
        }
        conninfo = manager_db_conninfo_for_host(p->config, ip);
        cJSON_Delete(svc);
        if (!conninfo) {
                pass_fail(p, ENOMEM, "Out of memory");
                p->clients_done = true;
                pass_maybe_finish(p);
                return;
        }
        clients_sync(p, conninfo);
        explicit_bzero(conninfo, strlen(conninfo));
}

static bool client_relevant(const Pass *p, const PlanAction *a) {
        return a->is_client && a->op != PLAN_DELETE &&
               (a->op != PLAN_UNCHANGED || (p->flags & (PASS_RESYNC | PASS_CLIENTS_ONLY)));
}

static int clients_collect(Pass *p) {
        const Plan *plan = p->plan;

        p->specs = calloc(plan->n_actions + 1, sizeof *p->specs);
        p->client_actions = calloc(plan->n_actions + 1, sizeof *p->client_actions);
        if (!p->specs || !p->client_actions)
                return -ENOMEM;
        for (size_t i = 0; i < plan->n_actions; i++) {
                const PlanAction *a = &plan->actions[i];
                if (!client_relevant(p, a))
                        continue;
                p->specs[p->n_specs] = (OAuthClientSpec) { a->client->id, a->client->name, a->client->redirect_uri };
                p->client_actions[p->n_specs++] = a;
        }
        return 0;
}

/* The rows go at the same time as the objects: they are independent. */
static void clients_start(Pass *p) {
        _cleanup_free_ char *conninfo = NULL, *path = NULL, *name = NULL;
        KubeClient *k;
        int r;

        r = clients_collect(p);
        if (r < 0 || p->n_specs == 0) {
                if (r < 0)
                        pass_fail(p, r, "Out of memory");
                p->clients_done = true;
                return;
        }
        r = manager_db_conninfo(p->config, &conninfo);
        if (r >= 0 && conninfo) {
                clients_sync(p, conninfo);
                explicit_bzero(conninfo, strlen(conninfo));
                return;
        }
        if (r >= 0 && (r = manager_kube(p->m, p->config, &k)) < 0) {
                pass_failed(p, r);
                p->clients_done = true;
                return;
        }
        if (r >= 0 && asprintf(&name, "%s-pg-rw", config_get(p->config, "APP_PREFIX")) < 0)
                r = -ENOMEM;
        if (r >= 0) {
                KubeRef ref = { "v1", "Service", config_get(p->config, "NAMESPACE"), name };
                r = kube_path(&ref, &path);
        }
        if (r >= 0)
                r = kube_get_start(k, path, on_pg_service, p, &p->pg_op);
        if (r < 0) {
                pass_fail(p, r, "Failed to find the database: %s", STRERROR(r));
                p->clients_done = true;
        }
}
