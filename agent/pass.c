/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One reconcile pass, as a state machine on the manager's sd-event loop:
 *
 *   begin: load values.env and render; when the ledger was lost, read it
 *          back from the cluster first (manager-rebuild.c); plan
 *   guard: install.sh's APP_PREFIX guard, before the first write (manager-guard.c)
 *   objects: the plan's object actions, group by group (manager-objects.c)
 *   clients: the oauth_clients rows, at the same time (manager-clients.c)
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

#include "pass-internal.h"
#include "util/log.h"
#include "util/redact.h"

#define DEFAULT_PASS_DEADLINE_MS 60000u

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
void pass_fail(Pass *p, int error, const char *format, ...) {
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
void pass_failed(Pass *p, int error) {
        if (p->error == 0)
                p->error = -abs(error);
}

/* Saves the ledger; a pass that cannot record what it did fails. Durable
 * (fsync) for intents, which must be on disk before their writes; what
 * only settles them need not be (see ledger_save). */
int pass_save(Pass *p, bool durable) {
        int r = ledger_save(p->m->ledger, durable);

        if (r < 0)
                pass_fail(p, r, "Failed to save the ledger in '%s': %s (nothing is written until it can be saved)",
                          p->m->state_dir, STRERROR(r));
        return r;
}

static int on_save(sd_event_source *s, void *userdata) {
        Pass *p = userdata;

        p->save = sd_event_source_disable_unref(p->save);
        (void) pass_save(p, false);
        return 0;
}

/* Each settled write is saved at once, so that a crash loses nothing; the
 * answers that arrive in one loop iteration share one save. */
void save_soon(Pass *p) {
        if (!p->save && sd_event_add_defer(p->m->event, &p->save, on_save, p) < 0)
                (void) pass_save(p, false);
}

Task *task_free(Task *t) {
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

Task *task_new(Pass *p, TaskStep step, const PlanAction *a) {
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
        kube_op_cancel(p->guard_op);
        digest_gate_cancel(&p->key);
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
        free(p->queued);
        free(p->intended);
        free(p->created);
        free(p->sent);
        free(p->apply_flags);
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
        manager_objects_abandon_unsent(p);
        if (r >= 0 && pass_result_wrote(&p->res))
                m->ledger->generation++; /* what was written, not what was planned */
        if (r >= 0)
                describe(p);
        else if (!p->res.status)
                set_status(&p->res, "%s; keeping generation %llu", m->last_error[0] ? m->last_error : STRERROR(r),
                           (unsigned long long) m->ledger->generation);
        if (p->res.status) { /* STATUS= shows it: the redaction step (util/redact.h) once more */
                char *clean = redact(p->res.status);
                if (clean) {
                        free(p->res.status);
                        p->res.status = clean;
                }
        }
        if (ledger_set_last_pass(m->ledger, r >= 0, p->res.status) < 0 || pass_save(p, false) < 0) {
                if (r >= 0)
                        set_status(&p->res, "%s", m->last_error);
                r = p->error;
        }
        m->pass = NULL;
        done(m, r, &p->res, userdata);
        pass_free(p);
}

void pass_maybe_finish(Pass *p) {
        if (p->objects_done && p->clients_done && !p->tasks && p->lists_in_flight == 0)
                pass_finish(p);
}

void pass_stop(Pass *p) {
        p->objects_done = p->clients_done = true;
        pass_maybe_finish(p);
}

/* What the pass still waits for, for the deadline's message. */
static void describe_in_flight(Pass *p, char *buf, size_t size) {
        size_t n = 0;

        buf[0] = 0;
        for (Task *t = p->tasks; t && n + 1 < size; t = t->next)
                n += (size_t) snprintf(buf + n, size - n, "%s%s", n ? ", " : "", t->id ? t->id : t->kind);
        if (p->db_busy && n + 1 < size)
                n += (size_t) snprintf(buf + n, size - n, "%sthe oauth_clients rows", n ? ", " : "");
        if (p->pg_op && n + 1 < size)
                snprintf(buf + n, size - n, "%sthe database's Service", n ? ", " : "");
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Pass *p = userdata;
        unsigned ms = p->m->options.pass_deadline_ms ? p->m->options.pass_deadline_ms : DEFAULT_PASS_DEADLINE_MS;
        char waiting[256];

        describe_in_flight(p, waiting, sizeof waiting);
        pass_fail(p, ETIMEDOUT, "The pass did not finish within %.1f s (still waiting for %s); dropping what is in "
                  "flight (the next pass repeats it)", ms / 1000.0, waiting[0] ? waiting : "nothing");
        while (p->tasks)
                task_free(p->tasks);
        kube_op_cancel(p->pg_op);
        p->pg_op = NULL;
        kube_op_cancel(p->guard_op);
        p->guard_op = NULL;
        digest_gate_cancel(&p->key);
        if (p->db_busy && p->m->db)
                oauth_cancel(p->m->db);
        p->db_busy = false;
        p->objects_in_flight = p->lists_in_flight = 0;
        pass_stop(p);
        return 0;
}

/* Carries the plan out: the objects and the clients, at once. */
static void pass_execute(Pass *p) {
        (void) plan_forget_partials(p->m->ledger, p->desired); /* the plan's notes said so */
        manager_clients_start(p);
        manager_objects_start(p);
}

/* Whether the pass is going to write anything: a pass that is not (a
 * converged `apply`) has nothing to guard and makes no request. */
static bool pass_writes(const Pass *p) {
        for (size_t i = 0; i < p->plan->n_actions; i++)
                if (manager_objects_relevant(p, &p->plan->actions[i]) || manager_clients_relevant(p, &p->plan->actions[i]))
                        return true;
        return false;
}

static void on_guard_list(int r, cJSON *list, const KubeError *err, void *userdata) {
        Pass *p = userdata;

        p->guard_op = NULL;
        r = manager_guard_verdict(p->m, p->config, r, list, err);
        cJSON_Delete(list);
        if (r < 0) {
                pass_failed(p, r); /* logged */
                pass_stop(p);
                return;
        }
        pass_execute(p);
}

/* install.sh's second APP_PREFIX guard: nothing is written into a namespace
 * that holds another prefix's installation. Listed before the first write
 * for a kubeconfig, NAMESPACE and APP_PREFIX, and again on a resync. `seed`
 * writes only rows, into the database DATABASE_URL names or
 * ${APP_PREFIX}-pg-rw's: no stack to start, and no API server needed with
 * DATABASE_URL. Returns 1 when the pass may go on at once. */
static int guard_start(Pass *p) {
        _cleanup_free_ char *path = NULL;
        KubeClient *k;
        int r;

        if ((p->flags & PASS_CLIENTS_ONLY) || !pass_writes(p))
                return 1;
        r = manager_kube(p->m, p->config, &k);
        if (r < 0)
                return r; /* logged */
        if (!manager_guard_needed(p->m, p->config, p->flags & PASS_RESYNC))
                return 1;
        r = manager_guard_path(p->config, &path);
        if (r >= 0)
                r = kube_get_start(k, path, on_guard_list, p, &p->guard_op);
        if (r < 0)
                return manager_fail(p->m, r, "Failed to list the Deployments of namespace '%s': %s",
                                    config_get(p->config, "NAMESPACE"), STRERROR(r));
        return 0;
}

/* Plans against the ledger, checks the guard, and starts the objects and the clients. */
void pass_plan(Pass *p) {
        int r;

        r = plan_compute(p->desired, p->config, p->m->ledger, &p->plan);
        if (r < 0) {
                pass_fail(p, r, "Failed to plan: %s", STRERROR(r));
                pass_stop(p);
                return;
        }
        for (size_t i = 0; i < p->plan->n_notes; i++)
                log_notice("%s", p->plan->notes[i]);
        r = guard_start(p);
        if (r < 0) {
                pass_failed(p, r); /* logged */
                pass_stop(p);
        } else if (r > 0)
                pass_execute(p);
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
                pass_stop(p);
                return 0;
        }
        if (p->m->ledger->rebuild && !(p->flags & PASS_CLIENTS_ONLY)) {
                r = manager_rebuild_start(p);
                if (r < 0) {
                        if (p->m->last_error[0])
                                pass_failed(p, r);
                        else
                                pass_fail(p, r, "Failed to read back what nap-agent applied: %s", STRERROR(r));
                        while (p->tasks)
                                task_free(p->tasks);
                        p->lists_in_flight = 0;
                        pass_stop(p);
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
        r = manager_ledger(m);
        if (r < 0)
                return r;
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
        /* (a pass runs with the ledger in memory) */
        if (p->plan)
                manager_objects_abandon_unsent(p);
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

