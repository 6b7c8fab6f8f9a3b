/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One reconcile pass, as a state machine on the manager's sd-event loop
 * (PassState in pass-internal.h):
 *
 *   LOADING     values.env read and rendered
 *   REBUILDING  the ledger was lost: read back from the cluster (pass-rebuild.c)
 *   GUARDING    install.sh's APP_PREFIX guard, before the first write (pass-guard.c)
 *   APPLYING    the plan's objects (pass-objects.c) and rows (pass-clients.c), at once
 *   FINISHED    the generation, the status line, the ledger saved; done called
 *
 * Before each write the ledger records an intent and is saved, and each
 * answer settles it, so a write whose answer is lost (a timeout, a kill)
 * still counts as the agent's: reverting the edit prunes it. A pass has a
 * deadline; when it expires, what is in flight is dropped and the pass
 * fails (its intents stay, the next pass repeats those writes).
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <systemd/sd-id128.h>

#include "pass-internal.h"
#include "rollout.h"
#include "util/json.h"
#include "util/log.h"
#include "util/redact.h"

/* ---- results ------------------------------------------------------------------- */

void pass_result_clear(PassResult *r) {
        assert(r);

        for (size_t i = 0; i < r->n_workloads; i++) {
                PassWorkload *w = &r->workloads[i];
                free(w->api_version);
                free(w->kind);
                free(w->namespace);
                free(w->name);
                free(w->module);
        }
        free(r->workloads);
        free(r->status);
        *r = (PassResult) { 0 };
}

bool pass_result_wrote(const PassResult *r) {
        assert(r);

        return r->objects_applied || r->objects_deleted || r->clients_changed || r->objects_repaired ||
               r->clients_repaired;
}

int pass_result_add_workload(PassResult *r, const char *module, const cJSON *live) {
        PassWorkload *n, *w;
        KubeRef ref;

        assert(r);

        if (!live || kube_ref_from_object(live, &ref) < 0 || !rollout_kind(ref.kind))
                return 0;
        n = realloc(r->workloads, (r->n_workloads + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        r->workloads = n;
        w = &n[r->n_workloads];
        *w = (PassWorkload) {
                .api_version = strdup(ref.api_version),
                .kind = strdup(ref.kind),
                .namespace = ref.namespace ? strdup(ref.namespace) : NULL,
                .name = strdup(ref.name),
                .module = strdup(module ? module : ""),
        };
        const cJSON *g = JSON_GET(live, "metadata", "generation");
        w->generation = cJSON_IsNumber(g) ? (long long) g->valuedouble : 0;
        r->n_workloads++; /* freed by pass_result_clear, whatever was copied */
        if (!w->api_version || !w->kind || (ref.namespace && !w->namespace) || !w->name || !w->module)
                return -ENOMEM;
        return 0;
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

/* ---- the cache ------------------------------------------------------------------ */

int pass_cache_new(PassCache **ret) {
        PassCache *c = calloc(1, sizeof *c);

        assert(ret);

        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}

void pass_cache_forget(PassCache *c) {
        if (!c)
                return;
        free(c->guard_passed); /* look again: the operator may have fixed the namespace */
        c->guard_passed = NULL;
        explicit_bzero(c->digest_key, sizeof c->digest_key); /* another cluster, maybe */
        free(c->digest_key_ns);
        c->digest_key_ns = NULL;
}

PassCache *pass_cache_free(PassCache *c) {
        pass_cache_forget(c);
        free(c);
        return NULL;
}

/* ---- bookkeeping ---------------------------------------------------------------- */

static void pass_vfail(Pass *p, int error, const LogFields *fields, const char *format, va_list ap) _printf_(4, 0);
static void pass_vfail(Pass *p, int error, const LogFields *fields, const char *format, va_list ap) {
        char line[sizeof p->error_line];

        vsnprintf(line, sizeof line, format, ap);
        if (p->error == 0) {
                p->error = -abs(error);
                snprintf(p->error_line, sizeof p->error_line, "%s", line);
        }
        log_struct(LOG_ERR, error, fields, "%s", line);
}

void pass_fail(Pass *p, int error, const char *format, ...) {
        va_list ap;

        assert(p);
        assert(format);

        va_start(ap, format);
        pass_vfail(p, error, NULL, format, ap);
        va_end(ap);
}

void pass_fail_fields(Pass *p, int error, const LogFields *fields, const char *format, ...) {
        va_list ap;

        assert(p);
        assert(format);

        va_start(ap, format);
        pass_vfail(p, error, fields, format, ap);
        va_end(ap);
}

/* ---- the journal's context ---------------------------------------------------------- */

/* Every entry of the pass carries its id, the generation and values.env
 * (util/log.h): set when it begins, the generation again when it ends. */
static void context_enter(Pass *p) {
        (void) log_context_set(LOG_CONTEXT_PASS, p->id);
        (void) log_context_setf(LOG_CONTEXT_GENERATION, "%llu", (unsigned long long) p->ledger->generation);
        (void) log_context_set(LOG_CONTEXT_VALUES, manager_options(p->m)->values_path);
}

/* Only if it is still this pass's: the daemon may have begun the next. */
static void context_leave(Pass *p) {
        const char *cur = log_context_get(LOG_CONTEXT_PASS);

        if (cur && streq(cur, p->id))
                (void) log_context_set(LOG_CONTEXT_PASS, NULL);
}

void pass_failed(Pass *p, int error) {
        assert(p);

        if (p->error == 0) {
                p->error = -abs(error);
                snprintf(p->error_line, sizeof p->error_line, "%s", manager_last_error(p->m));
        }
}

/* Saves the ledger; a pass that cannot record what it did fails. Durable
 * (fsync) for intents, which must be on disk before their writes; what
 * only settles them need not be (see ledger_save). */
int pass_save(Pass *p, bool durable) {
        int r;

        assert(p);

        r = ledger_save(p->ledger, durable);
        if (r < 0)
                pass_fail(p, r, "Failed to save the ledger in '%s': %s (nothing is written until it can be saved)",
                          manager_state_dir(p->m), STRERROR(r));
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
void pass_save_soon(Pass *p) {
        assert(p);

        if (!p->save && sd_event_add_defer(manager_event(p->m), &p->save, on_save, p) < 0)
                (void) pass_save(p, false);
}

/* ---- the end ---------------------------------------------------------------------- */

static void describe(Pass *p) {
        PassResult *res = &p->res;
        unsigned long long gen = (unsigned long long) p->ledger->generation;
        bool changed = res->objects_applied || res->objects_deleted || res->clients_changed;
        char keys[96] = "";

        if (res->platform_keys)
                snprintf(keys, sizeof keys, "; %u key(s) changed that only `install.sh --manifests-only` applies",
                         res->platform_keys);
        if (!changed && !res->objects_repaired && !res->clients_repaired) {
                set_status(res, "no changes%s; generation %llu", keys, gen);
                return;
        }
        set_status(res, "applied %u object(s), deleted %u, %u oauth client change(s)%s%s; generation %llu",
                   res->objects_applied, res->objects_deleted, res->clients_changed,
                   res->objects_repaired || res->clients_repaired ? " (drift repaired)" : "", keys, gen);
}

static void pass_free(Pass *p) {
        context_leave(p);
        pass_rebuild_cancel(p);
        pass_guard_cancel(p);
        pass_objects_cancel(p);
        pass_objects_free(p);
        pass_clients_cancel(p);
        pass_clients_free(p);
        sd_event_source_disable_unref(p->begin);
        sd_event_source_disable_unref(p->deadline);
        sd_event_source_disable_unref(p->save);
        plan_free(p->plan);
        desired_set_free(p->desired);
        config_free(p->config);
        pass_result_clear(&p->res);
        pass_cache_free(p->own_cache);
        free(p);
}

/* The rows of modules turned off stay (plan.c says why): say so in the ledger. */
static void mark_kept_clients(Pass *p) {
        Ledger *l = p->ledger;

        for (size_t i = 0; i < l->n_clients; i++) {
                bool desired = false;
                for (size_t k = 0; k < p->desired->n_clients; k++)
                        if (streq(p->desired->clients[k].id, l->clients[i].id))
                                desired = true;
                l->clients[i].kept = !desired;
        }
}

/* The oauth_clients rows the ledger holds, registered or kept. */
static void count_clients(Pass *p) {
        for (size_t i = 0; i < p->ledger->n_clients; i++)
                if (p->ledger->clients[i].kept)
                        p->res.clients_kept++;
                else
                        p->res.clients_registered++;
}

/* What a failed pass leaves to write: the changes a plan against the
 * ledger as it is now still holds (a module's row turned off is kept, not
 * written). */
static void count_pending(Pass *p) {
        _cleanup_(plan_freep) Plan *after = NULL;

        if (!p->desired || !p->config || (p->opts.flags & PASS_CLIENTS_ONLY) ||
            plan_compute(p->desired, p->config, p->ledger, p->clients.target_known ? &p->clients.target : NULL,
                         &after) < 0)
                return;
        for (size_t i = 0; i < after->n_actions; i++)
                if (after->actions[i].op != PLAN_UNCHANGED &&
                    !(after->actions[i].is_client && after->actions[i].op == PLAN_DELETE))
                        p->res.pending_changes++;
}

/* The status line of a pass that failed. */
static void describe_failure(Pass *p) {
        if (!p->res.status)
                set_status(&p->res, "%s; keeping generation %llu", p->error_line[0] ? p->error_line : STRERROR(p->error),
                           (unsigned long long) p->ledger->generation);
}

static void pass_finish(Pass *p) {
        PassDone done = p->done;
        void *userdata = p->userdata;
        int r = p->error;

        p->state = PASS_FINISHED;
        if (p->plan)
                mark_kept_clients(p);
        pass_objects_abandon_unsent(p);
        if (r >= 0 && pass_result_wrote(&p->res))
                p->ledger->generation++; /* what was written, not what was planned */
        (void) log_context_setf(LOG_CONTEXT_GENERATION, "%llu", (unsigned long long) p->ledger->generation);
        count_clients(p);
        if (r >= 0)
                describe(p);
        else {
                describe_failure(p);
                count_pending(p);
        }
        p->res.no_kubeconfig = r < 0 && manager_kubeconfig_failed(p->m);
        if (p->res.status) { /* STATUS= shows it: the redaction step (util/redact.h) once more */
                char *clean = redact(p->res.status);
                if (clean) {
                        free(p->res.status);
                        p->res.status = clean;
                }
        }
        if (ledger_set_last_pass(p->ledger, r >= 0, p->res.status) < 0 || pass_save(p, false) < 0) {
                if (r >= 0)
                        set_status(&p->res, "%s", p->error_line);
                r = p->error;
        }
        p->res.generation = p->ledger->generation;
        done(r, &p->res, userdata);
        pass_free(p);
}

void pass_stage_done(Pass *p) {
        assert(p);

        if (p->state == PASS_APPLYING && p->objects.done && p->clients.done)
                pass_finish(p);
}

/* What the pass still waits for, for the deadline's message. */
static void describe_in_flight(Pass *p, char *buf, size_t size) {
        const char *what[] = {
                p->rebuild.lists ? "the lists of what nap-agent applied" : NULL,
                p->guard.op ? "the list of the namespace's Deployments" : NULL,
                p->objects.in_flight ? "the objects' requests" : NULL,
                p->clients.db_busy ? "the oauth_clients rows" : NULL,
                p->clients.pg_op ? "the database's Service" : NULL,
        };
        size_t n = 0;

        buf[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(what) && n + 1 < size; i++)
                if (what[i])
                        n += (size_t) snprintf(buf + n, size - n, "%s%s", n ? ", " : "", what[i]);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Pass *p = userdata;
        char waiting[256];

        describe_in_flight(p, waiting, sizeof waiting);
        pass_fail(p, ETIMEDOUT, "The pass did not finish within %.1f s (still waiting for %s); dropping what is in "
                  "flight (the next pass repeats it)", (double) p->opts.deadline_usec / USEC_PER_SEC,
                  waiting[0] ? waiting : "nothing");
        pass_rebuild_cancel(p);
        pass_guard_cancel(p);
        pass_objects_cancel(p);
        pass_clients_cancel(p);
        pass_finish(p);
        return 0;
}

/* ---- the way there ---------------------------------------------------------------- */

/* Carries the plan out: the objects and the clients, at once. */
static void pass_apply(Pass *p) {
        p->state = PASS_APPLYING;
        (void) plan_forget_partials(p->ledger, p->desired); /* the plan's notes said so */
        pass_clients_start(p);
        pass_objects_start(p);
}

void pass_guard_done(Pass *p, int r) {
        assert(p);

        if (r < 0) {
                pass_failed(p, r); /* logged */
                pass_finish(p);
                return;
        }
        pass_apply(p);
}

/* The keys only install.sh applies (plan-platform.c): each edit said once,
 * here, and its digest recorded at once (saved with the pass), so the next
 * pass is quiet about it whatever becomes of this one. */
static int pass_platform_keys(Pass *p) {
        for (size_t i = 0; i < p->plan->n_platform_keys; i++) {
                _cleanup_free_ char *notice = NULL;
                if (!p->plan->platform_keys[i].changed)
                        continue;
                if (plan_platform_key_notice(&p->plan->platform_keys[i], &notice) < 0)
                        return -ENOMEM;
                log_notice("%s", notice);
                p->res.platform_keys++;
        }
        return plan_platform_keys_record(p->ledger, p->plan);
}

/* Plans against the ledger, checks the guard, and starts the objects and the clients. */
static void pass_plan(Pass *p) {
        _cleanup_free_ char *corrupt = NULL;
        int r;

        /* Before anything acts on an entry the agent did not seal. */
        r = plan_check_ledger(p->desired, p->config, p->ledger, &corrupt);
        if (r < 0) {
                pass_fail(p, r, "%s", corrupt ? corrupt : STRERROR(r));
                pass_finish(p);
                return;
        }
        pass_clients_target(p);
        r = plan_compute(p->desired, p->config, p->ledger, p->clients.target_known ? &p->clients.target : NULL,
                         &p->plan);
        if (r < 0) {
                pass_fail(p, r, "Failed to plan: %s", STRERROR(r));
                pass_finish(p);
                return;
        }
        for (size_t i = 0; i < p->plan->n_notes; i++)
                log_notice("%s", p->plan->notes[i]);
        r = pass_platform_keys(p);
        if (r < 0) {
                pass_fail(p, r, "Out of memory");
                pass_finish(p);
                return;
        }
        p->state = PASS_GUARDING;
        r = pass_guard_start(p);
        if (r < 0)
                pass_guard_done(p, r);
        else if (r > 0)
                pass_apply(p);
}

void pass_rebuild_done(Pass *p) {
        assert(p);

        if (p->error) {
                pass_finish(p);
                return;
        }
        p->ledger->rebuild = false;
        if (pass_save(p, true) < 0) {
                pass_finish(p);
                return;
        }
        pass_plan(p);
}

static int on_begin(sd_event_source *s, void *userdata) {
        Pass *p = userdata;
        _cleanup_free_ char *why = NULL;
        int r;

        p->begin = sd_event_source_disable_unref(p->begin);
        context_enter(p);
        r = pass_load_desired(p->m, &p->config, &p->desired, &why);
        if (r < 0) {
                p->error = r;
                p->res.invalid_values = true;
                set_status(&p->res, "%s: nothing applied, nothing deleted; keeping generation %llu",
                           why ? why : STRERROR(r), (unsigned long long) p->ledger->generation);
                pass_finish(p);
                return 0;
        }
        if (p->ledger->rebuild && !(p->opts.flags & PASS_CLIENTS_ONLY)) {
                p->state = PASS_REBUILDING;
                r = pass_rebuild_start(p);
                if (r < 0) {
                        if (manager_last_error(p->m)[0])
                                pass_failed(p, r);
                        else
                                pass_fail(p, r, "Failed to read back what nap-agent applied: %s", STRERROR(r));
                        pass_rebuild_cancel(p);
                        pass_finish(p);
                }
                return 0;
        }
        pass_plan(p);
        return 0;
}

int pass_start(Manager *m, PassCache *cache, const PassOptions *opts, PassDone done, void *userdata, Pass **ret) {
        sd_id128_t id;
        Pass *p;
        int r;

        assert(m);
        assert(opts);
        assert(done);
        assert(ret);

        if (manager_options(m)->read_only)
                return -EROFS;
        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        *p = (Pass) { .m = m, .cache = cache, .opts = *opts, .done = done, .userdata = userdata };
        r = sd_id128_randomize(&id);
        if (r >= 0)
                (void) sd_id128_to_string(id, p->id);
        if (r >= 0)
                r = manager_ledger(m, &p->ledger);
        if (r >= 0 && !p->cache && (r = pass_cache_new(&p->own_cache)) >= 0)
                p->cache = p->own_cache;
        manager_clear_error(m);
        if (r >= 0)
                r = sd_event_add_defer(manager_event(m), &p->begin, on_begin, p);
        if (r >= 0)
                r = sd_event_add_time_relative(manager_event(m), &p->deadline, CLOCK_MONOTONIC,
                                               p->opts.deadline_usec, USEC_PER_MSEC, on_deadline, p);
        if (r < 0) {
                pass_free(p);
                return r;
        }
        (void) sd_event_source_set_description(p->begin, "pass-begin");
        (void) sd_event_source_set_description(p->deadline, "pass-deadline");
        *ret = p;
        return 0;
}

void pass_cancel(Pass *p, const char *why, char **ret_status) {
        _cleanup_free_ char *status = NULL;
        Ledger *l;

        if (!p)
                return;
        l = p->ledger;
        if (p->plan)
                pass_objects_abandon_unsent(p);
        pass_free(p);
        if (why && asprintf(&status, "%s: the pass in progress was cancelled (what it had in flight is repeated by "
                            "the next pass); keeping generation %llu", why,
                            (unsigned long long) l->generation) >= 0)
                (void) ledger_set_last_pass(l, false, status);
        /* Intents of what was in flight stay: the next pass repeats them. */
        (void) ledger_commit(l);
        if (ret_status)
                *ret_status = TAKE_PTR(status);
}

typedef struct SyncPass {
        bool done;
        int r;
        PassResult res;
} SyncPass;

static void sync_done(int r, PassResult *res, void *userdata) {
        SyncPass *s = userdata;

        s->done = true;
        s->r = r;
        s->res = *res;
        *res = (PassResult) { 0 };
}

int pass_run(Manager *m, PassCache *cache, const PassOptions *opts, PassResult *ret) {
        SyncPass s = { 0 };
        Pass *p = NULL;
        int r;

        assert(m);
        assert(opts);
        assert(ret);

        *ret = (PassResult) { 0 };
        r = pass_start(m, cache, opts, sync_done, &s, &p);
        while (r >= 0 && !s.done)
                r = sd_event_run(manager_event(m), UINT64_MAX);
        if (r < 0 && !s.done) {
                pass_cancel(p, NULL, NULL);
                return r;
        }
        *ret = s.res;
        return s.r;
}

/* ---- values.env, rendered ------------------------------------------------------------ */

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

/* The configuration's secrets go to the redaction step (util/redact.h),
 * which keeps them and the previous configuration's, before anything of
 * this pass can reach a server and come back in its answer. */
static int register_secrets(const Config *c) {
        _cleanup_free_ const char **values = calloc(c->n_vars + 2, sizeof *values);
        size_t n = 0;

        if (!values)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_vars; i++)
                if (c->vars[i].secret && !strempty(c->vars[i].value))
                        values[n++] = c->vars[i].value;
        if (!strempty(getenv("DATABASE_URL")))
                values[n++] = getenv("DATABASE_URL");
        return redact_set_secrets(values, n);
}

/* Why values.env could not be read at all (r from opening it), naming the
 * file, and the user when it is a permission: a missing file is not an
 * unreadable one, nor a symlink to nothing. */
static char *values_unreadable(const char *path, int r) {
        char target[PATH_MAX], user[64];
        const struct passwd *pw = getpwuid(geteuid());
        struct stat st;
        ssize_t k;
        char *s;

        if (r == -ENOENT && lstat(path, &st) >= 0 && S_ISLNK(st.st_mode) &&
            (k = readlink(path, target, sizeof target - 1)) >= 0) {
                target[k] = 0;
                r = asprintf(&s, "'%s' is a dangling symlink: its target '%s' does not exist", path, target);
        } else if (r == -ENOENT)
                r = asprintf(&s, "'%s' is missing", path);
        else {
                if (pw)
                        snprintf(user, sizeof user, "user '%s'", pw->pw_name);
                else
                        snprintf(user, sizeof user, "uid %u", (unsigned) geteuid());
                r = asprintf(&s, "'%s' cannot be read by %s: %s", path, user, STRERROR(r));
        }
        return r < 0 ? NULL : s;
}

int pass_load_desired(Manager *m, Config **ret_config, DesiredSet **ret_desired, char **ret_status) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(desired_set_freep) DesiredSet *s = NULL;
        const ManagerOptions *o;
        int r;

        assert(m);
        assert(ret_config);
        assert(ret_desired);
        assert(ret_status);

        o = manager_options(m);
        *ret_status = NULL;
        r = config_load(o->values_path, &c, &d);
        if (r < 0 && r != -ENOMEM && !diag_has_errors(&d)) { /* it could not be opened or read */
                log_diags(&d);
                *ret_status = values_unreadable(o->values_path, r);
                return r;
        }
        if (r >= 0 && !diag_has_errors(&d))
                r = register_secrets(c);
        if (r >= 0 && !diag_has_errors(&d))
                r = template_render(c, &o->templates, &s, &d);
        log_diags(&d);
        if (r >= 0 && diag_has_errors(&d))
                r = -EINVAL;
        if (r < 0) {
                const Diag *e = diag_first_error(&d);
                *ret_status = e ? diag_format_short(e) : NULL;
                return r;
        }
        *ret_config = TAKE_PTR(c);
        *ret_desired = TAKE_PTR(s);
        return 0;
}
