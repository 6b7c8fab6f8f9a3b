/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verbs that reconcile: plan, apply, seed, status and run. They run
 * the pass (or its first half) once, in the foreground, or the daemon.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-internal.h"
#include "daemon-control.h"
#include "daemon-rollouts.h"
#include "daemon.h"
#include "manager.h"
#include "pass.h"
#include "util/json.h"
#include "util/log.h"

static int open_manager(const CliArgs *a, bool read_only, Manager **ret) {
        _cleanup_free_ char *who = NULL;
        ManagerOptions o = cli_manager_options(a);

        o.read_only = read_only;

        /* The verbs that write hold the state directory (see util/lock.h). */
        if (!read_only && asprintf(&who, "nap-agent %s", a->verb) < 0)
                return log_error_errno(ENOMEM, "Out of memory");
        o.lock_as = who;
        return manager_new(&o, ret);
}

typedef struct LiveCtx {
        Manager *m;
        const Config *c;
        const Ledger *l;
} LiveCtx;

/* What an apply of o would send, live being what was read: its secret
 * digest held back when it takes over install.sh's workload (template.h).
 * *ret: a new object, or NULL for o->body. */
static int live_body(const LiveCtx *ctx, const DesiredObject *o, const cJSON *live, cJSON **ret) {
        const LedgerObject *e = ledger_find_object(ctx->l, o->kind, o->namespace, o->name);

        *ret = NULL;
        if (!template_secret_digest_held(o->body, e ? e->adopted_digest : NULL, live, true))
                return 0;
        return template_secret_digest_hold(o->body, ret);
}

static int fetch_live(const DesiredObject *o, cJSON **ret_would_be, cJSON **ret_live, void *userdata) {
        LiveCtx *ctx = userdata;
        _cleanup_(json_delete_wipedp) cJSON *held = NULL;
        KubeApplyResult ar = { 0 };
        KubeError err = { 0 };
        KubeClient *k;
        cJSON *live = NULL;
        int r;

        r = manager_kube(ctx->m, ctx->c, &k);
        if (r < 0)
                return r;
        KubeRef ref = { o->api_version, o->kind, o->namespace, o->name };
        r = kube_get(k, &ref, &live, &err);
        if (r == -ENOENT)
                live = NULL;
        else if (r < 0)
                return log_error_errno(r, "Failed to read %s/%s: %s", o->kind, o->name, err.message);
        if (!live && o->partial) { /* never created: no dry run (it would be refused) */
                *ret_would_be = *ret_live = NULL;
                return 0;
        }
        r = live_body(ctx, o, live, &held);
        if (r >= 0)
                r = kube_apply(k, held ? held : o->body, NULL, KUBE_APPLY_DRY_RUN, &ar, &err);
        if (r < 0) {
                cJSON_Delete(live);
                return log_error_errno(r, "Server-side dry-run of %s/%s failed: %s", o->kind, o->name,
                                       err.message[0] ? err.message : STRERROR(r));
        }
        /* The dry run cannot take install.sh's fields over first: what
         * that would remove is removed here (never from the platform's own
         * object, whose other fields are not the agent's to take). */
        if (!o->partial && ar.live &&
            kube_adopt_leftovers(ar.live, held ? held : o->body, o->installer_patches ? KUBE_APPLY_TAKE_PATCHED : 0,
                                 true) < 0) {
                kube_apply_result_clear(&ar);
                cJSON_Delete(live);
                return log_error_errno(ENOMEM, "Out of memory");
        }
        *ret_would_be = ar.live;
        ar.live = NULL;
        kube_apply_result_clear(&ar);
        *ret_live = live;
        return 0;
}

static int fetch_client(const char *id, char **ret_name, Strv *ret_uris, void *userdata) {
        LiveCtx *ctx = userdata;
        _cleanup_(oauth_client_freep) OAuthClient *row = NULL;
        OAuthError err = { 0 };
        OAuthDb *db;
        int r;

        r = manager_db(ctx->m, ctx->c, &db);
        if (r < 0)
                return r;
        r = oauth_get(db, id, &row, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to read oauth client '%s': %s", id, err.message);
        if (r == 0)
                return 0;
        for (size_t i = 0; i < row->n_redirect_uris; i++)
                if (strv_push(ret_uris, strdup(row->redirect_uris[i])) < 0)
                        return log_error_errno(ENOMEM, "Out of memory");
        *ret_name = row->name ? strdup(row->name) : NULL;
        return 1;
}

/* plan --live: the database the rows would go to, connected (so that its
 * system identifier is known too). Not when no client is desired. */
static int live_target(Manager *m, const Config *c, const DesiredSet *d, LedgerDatabase *ret) {
        OAuthError err = { 0 };
        OAuthDb *db;
        int r;

        if (d->n_clients == 0)
                return 0;
        r = manager_db(m, c, &db);
        if (r < 0)
                return r; /* logged */
        if (manager_db_where(db, ret) < 0)
                return log_error_errno(ENOMEM, "Out of memory");
        r = oauth_system_identifier(db, &ret->system_identifier, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to read the database's system identifier: %s", err.message);
        return 0;
}

int cli_plan(CliArgs *a) {
        _cleanup_(cli_session_clear) CliSession s = { 0 };
        _cleanup_(plan_freep) Plan *p = NULL;
        int r;

        assert(a);

        cli_say_values(a);
        if (cli_session_open(a, "nothing would be applied", &s) < 0)
                return CLI_EXIT_FAILURE;
        Manager *m = s.m;
        const Config *c = s.config;
        DesiredSet *d = s.desired;
        Ledger *l;
        _cleanup_(ledger_database_clear) LedgerDatabase target = { 0 };
        if (manager_ledger(m, &l) < 0) /* logged */
                return CLI_EXIT_FAILURE;
        _cleanup_free_ char *corrupt = NULL;
        r = plan_check_ledger(d, c, l, &corrupt);
        if (r < 0) {
                log_error_errno(r, "%s", corrupt ? corrupt : STRERROR(r));
                return CLI_EXIT_FAILURE;
        }
        if (a->live) {
                _cleanup_(pass_cache_freep) PassCache *cache = NULL;
                LiveCtx ctx = { m, c, l };
                if (pass_cache_new(&cache) < 0) {
                        log_error_errno(ENOMEM, "Out of memory");
                        return CLI_EXIT_FAILURE;
                }
                if (pass_guard_check(m, cache, c) < 0) /* logged: another APP_PREFIX is installed there */
                        return CLI_EXIT_FAILURE;
                /* The dry runs send the secret digest as an apply would (read only: never created here). */
                r = pass_digest_key_read(m, cache, c, false);
                if (r == -ENOENT)
                        log_notice("Secret '%s' does not exist yet: the first apply creates it, and with it the value "
                                   "of %s", SECRET_DIGEST_KEY_SECRET, SECRET_DIGEST_ANNOTATION);
                else if (r < 0 || (r = pass_seal_digests(cache, c, d)) < 0)
                        return CLI_EXIT_FAILURE;
                if (live_target(m, c, d, &target) < 0)
                        return CLI_EXIT_FAILURE; /* logged */
                r = plan_compute_live(d, c, l, &target, fetch_live, fetch_client, &ctx, &p);
        } else {
                if (d->n_clients > 0 && manager_db_target(m, c, &target) < 0)
                        return CLI_EXIT_FAILURE; /* logged */
                r = plan_compute(d, c, l, &target, &p);
        }
        if (r < 0) {
                log_error_errno(r, "Failed to compute the plan: %s", STRERROR(r));
                return CLI_EXIT_FAILURE;
        }
        plan_print(p, stdout, false);
        return plan_has_changes(p) ? CLI_EXIT_CHANGES : CLI_EXIT_OK;
}

/* apply --wait: follows the rollouts the pass caused until each is
 * available (0) or one is failing or cannot be followed (1). */
static int wait_rollouts(Manager *m, const CliArgs *a, const PassResult *res) {
        _cleanup_(rollouts_freep) Rollouts *rs = NULL;
        _cleanup_free_ char *failures = NULL;
        RolloutsOptions o = {
                .timeout_usec = (usec_t) a->rollout_timeout_seconds * USEC_PER_SEC,
                .stop_on_supersede = true,
        };
        int r;

        if (res->n_workloads == 0) {
                log_info("no rollout to wait for: no workload changed");
                return CLI_EXIT_OK;
        }
        r = rollouts_new(m, &o, NULL, NULL, &rs);
        if (r >= 0)
                r = rollouts_follow(rs, res);
        if (r < 0) {
                log_error_errno(r, "Failed to follow the rollouts: %s", STRERROR(r));
                return CLI_EXIT_FAILURE;
        }
        for (size_t i = 0; i < res->n_workloads; i++)
                log_info("waiting for %s %s to roll out (at most %lu s)", res->workloads[i].kind,
                         res->workloads[i].name, a->rollout_timeout_seconds);
        while (rollouts_busy(rs) && r >= 0)
                r = sd_event_run(manager_event(m), UINT64_MAX);
        if (r < 0) {
                log_error_errno(r, "Event loop failed: %s", STRERROR(r));
                return CLI_EXIT_FAILURE;
        }
        if (rollouts_failures(rs, &failures) < 0) {
                log_error_errno(ENOMEM, "Out of memory");
                return CLI_EXIT_FAILURE;
        }
        if (failures) {
                log_error("rollout failed: %s", failures);
                return CLI_EXIT_FAILURE;
        }
        log_info("every rollout is available");
        return CLI_EXIT_OK;
}

/* How long a verb waits for the daemon's answer: the pass that runs, a
 * writer's close (at most 300 s) and the verb's own pass fit in it. */
#define HANDOFF_TIMEOUT_USEC (600 * USEC_PER_SEC)

/* The answer of the daemon that ran the pass, printed as the verb's own
 * pass would be; apply --wait follows its rollouts from here. */
static int handed_over(const CliArgs *a, unsigned flags, ControlAnswer *ans) {
        _cleanup_(manager_freep) Manager *m = NULL;
        const char *status = ans->res.status ? ans->res.status : "?";

        if (ans->refused) {
                log_error("The running daemon (PID %d) refused the pass: %s", (int) ans->pid, ans->refused);
                return CLI_EXIT_FAILURE;
        }
        if (ans->result < 0) {
                log_error("nap-agent run (PID %d): %s", (int) ans->pid, status);
                return CLI_EXIT_FAILURE;
        }
        log_info("nap-agent run (PID %d): %s", (int) ans->pid, status);
        if (!a->wait || (flags & PASS_CLIENTS_ONLY))
                return CLI_EXIT_OK;
        if (open_manager(a, true, &m) < 0)
                return CLI_EXIT_FAILURE;
        return wait_rollouts(m, a, &ans->res);
}

/* A daemon holds the state directory: it runs the pass and answers with
 * its result (daemon-control.h). -1 when none listens, or its socket
 * cannot be reached by this user: the verb then runs the pass itself, and
 * taking the lock says who holds it, if someone does. */
static int hand_to_daemon(const CliArgs *a, unsigned flags) {
        _cleanup_(control_answer_clear) ControlAnswer ans = { 0 };
        ManagerOptions o = cli_manager_options(a);
        const char *dir = manager_state_dir_of(&o),
                   *verb = flags & PASS_CLIENTS_ONLY ? "seed" : flags & PASS_RESYNC ? "resync" : "apply";
        int r;

        r = control_call(dir, verb, a->values, a->kubeconfig, HANDOFF_TIMEOUT_USEC, &ans);
        if (r == -ENOENT || r == -ECONNREFUSED || r == -EACCES || r == -ENOTDIR || r == -ENAMETOOLONG)
                return -1;
        if (r == -ETIMEDOUT) {
                log_error("The daemon listening on '%s/%s' did not answer within %llu s; its pass may still run: see "
                          "`nap-agent status`", dir, CONTROL_SOCKET,
                          (unsigned long long) (HANDOFF_TIMEOUT_USEC / USEC_PER_SEC));
                return CLI_EXIT_FAILURE;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to hand the pass to the daemon listening on '%s/%s': %s", dir,
                                CONTROL_SOCKET, STRERROR(r));
                return CLI_EXIT_FAILURE;
        }
        return handed_over(a, flags, &ans);
}

static int run_pass(const CliArgs *a, unsigned flags) {
        _cleanup_(manager_freep) Manager *m = NULL;
        PassResult res = { 0 };
        int r;

        r = hand_to_daemon(a, flags);
        if (r >= 0)
                return r;
        if (open_manager(a, false, &m) < 0)
                return CLI_EXIT_FAILURE;
        r = pass_run(m, NULL, &(PassOptions) { .flags = flags, .deadline_usec = DEFAULT_PASS_DEADLINE_USEC }, &res);
        if (res.invalid_values && r == -EINVAL)
                log_error("%s is invalid: nothing applied, nothing deleted; keeping generation %llu", a->values,
                          res.generation);
        else if (r >= 0 && res.status && !(flags & PASS_CLIENTS_ONLY))
                log_info("%s", res.status); /* seed says only what it registered */
        else if (r < 0 && res.invalid_values && res.status)
                log_error("%s", res.status); /* a missing file: nothing else said so */
        /* Otherwise the pass has logged the one line that says why. */
        if (r >= 0 && a->wait && !(flags & PASS_CLIENTS_ONLY))
                r = wait_rollouts(m, a, &res) == CLI_EXIT_OK ? 0 : -EIO;
        pass_result_clear(&res);
        return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cli_apply(CliArgs *a) {
        assert(a);

        return run_pass(a, a->resync ? PASS_RESYNC : 0);
}

int cli_run(CliArgs *a) {
        _cleanup_(manager_freep) Manager *m = NULL;
        DaemonOptions o;

        assert(a);

        /* The options say 0 for "never"; inside, that is USEC_INFINITY. */
        o = (DaemonOptions) {
                .values_candidates = a->values_candidates,
                .values_origin = a->values_origin,
                .close_wait_usec = (usec_t) a->close_wait_seconds * USEC_PER_SEC,
                .settle_usec = (usec_t) a->settle_ms * USEC_PER_MSEC,
                .resync_usec = a->resync_seconds ? (usec_t) a->resync_seconds * USEC_PER_SEC : USEC_INFINITY,
                .idle_close_usec = a->idle_close_seconds ? (usec_t) a->idle_close_seconds * USEC_PER_SEC : USEC_INFINITY,
                .rollout_timeout_usec = (usec_t) a->rollout_timeout_seconds * USEC_PER_SEC,
                .metrics_dir = a->metrics_dir,
        };

        /* (the daemon's first line says which values.env it reads, or where it looks) */
        if (open_manager(a, false, &m) < 0)
                return CLI_EXIT_FAILURE;
        return daemon_run(m, &o) < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cli_seed(CliArgs *a) {
        assert(a);

        return run_pass(a, PASS_CLIENTS_ONLY);
}

/* "pending", "missing" (a partial object's target did not exist) or "applied". */
static const char *object_state(const LedgerObject *o) {
        return o->pending ? "pending" : plan_entry_missing(o) ? "missing" : "applied";
}

static void add_string_or_null(cJSON *o, const char *key, const char *value) {
        if (value)
                cJSON_AddStringToObject(o, key, value);
        else
                cJSON_AddNullToObject(o, key);
}

/* {"state", "reason", "message", "since"}: the daemon's view of a workload. */
static void add_health(cJSON *e, const cJSON *view, const LedgerObject *o) {
        RolloutHealthInfo h;
        cJSON *j;

        rollouts_runtime_lookup(view, o->kind, o->namespace, o->name, &h);
        j = cJSON_AddObjectToObject(e, "health");
        if (!j)
                return;
        cJSON_AddStringToObject(j, "state", rollout_health_to_string(h.health));
        add_string_or_null(j, "reason", h.reason);
        add_string_or_null(j, "message", view ? h.message : "the daemon is not running");
        add_string_or_null(j, "since", h.since);
}

/* "database": where the client's row was written, or null when the ledger
 * does not say (written before it recorded that). */
static void add_database(cJSON *e, const LedgerDatabase *d) {
        cJSON *j;

        if (!ledger_database_known(d)) {
                cJSON_AddNullToObject(e, "database");
                return;
        }
        j = cJSON_AddObjectToObject(e, "database");
        if (!j)
                return;
        add_string_or_null(j, "host", d->host);
        add_string_or_null(j, "port", d->port);
        add_string_or_null(j, "name", d->name);
        add_string_or_null(j, "systemIdentifier", d->system_identifier);
}

static cJSON *status_json(const CliArgs *a, const Manager *m, const Ledger *l, const cJSON *view) {
        cJSON *j = cJSON_CreateObject(), *last, *objs, *cls, *values;

        cJSON_AddNumberToObject(j, "generation", (double) l->generation);
        cJSON_AddStringToObject(j, "stateDir", manager_state_dir(m));
        values = cJSON_AddObjectToObject(j, "values");
        cJSON_AddStringToObject(values, "path", a->values);
        cJSON_AddStringToObject(values, "why", a->values_origin);
        last = cJSON_AddObjectToObject(j, "lastPass");
        if (l->last_time) {
                cJSON_AddStringToObject(last, "time", l->last_time);
                cJSON_AddStringToObject(last, "result", l->last_result ? l->last_result : "unknown");
                cJSON_AddStringToObject(last, "message", l->last_message ? l->last_message : "");
        }
        objs = cJSON_AddArrayToObject(j, "objects");
        for (size_t i = 0; i < l->n_objects; i++) {
                const LedgerObject *o = &l->objects[i];
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "apiVersion", o->api_version);
                cJSON_AddStringToObject(e, "kind", o->kind);
                if (o->namespace)
                        cJSON_AddStringToObject(e, "namespace", o->namespace);
                cJSON_AddStringToObject(e, "name", o->name);
                cJSON_AddStringToObject(e, "module", o->module);
                if (streq(o->module, PARTIAL_MODULE) && !o->create_only)
                        cJSON_AddBoolToObject(e, "partial", true);
                if (o->create_only)
                        cJSON_AddBoolToObject(e, "createOnly", true);
                cJSON_AddStringToObject(e, "state", object_state(o));
                if (o->pending)
                        cJSON_AddStringToObject(e, "pending", o->pending);
                if (o->resource_version)
                        cJSON_AddStringToObject(e, "resourceVersion", o->resource_version);
                if (o->applied_at)
                        cJSON_AddStringToObject(e, "appliedAt", o->applied_at);
                if (rollout_kind(o->kind) && !streq(o->module, PARTIAL_MODULE))
                        add_health(e, view, o);
                cJSON_AddItemToArray(objs, e);
        }
        cls = cJSON_AddArrayToObject(j, "oauthClients");
        for (size_t i = 0; i < l->n_clients; i++) {
                const LedgerClient *c = &l->clients[i];
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "id", c->id);
                cJSON_AddStringToObject(e, "module", c->module);
                cJSON_AddStringToObject(e, "state", c->kept ? "kept" : "registered");
                if (c->redirect_uri)
                        cJSON_AddStringToObject(e, "redirectUri", c->redirect_uri);
                if (c->applied_at)
                        cJSON_AddStringToObject(e, "appliedAt", c->applied_at);
                add_database(e, &c->database);
                cJSON_AddItemToArray(cls, e);
        }
        return j;
}

static void print_health(const cJSON *view, const LedgerObject *o) {
        RolloutHealthInfo h;

        rollouts_runtime_lookup(view, o->kind, o->namespace, o->name, &h);
        if (!view)
                printf("             health unknown: the daemon is not running\n");
        else if (h.since)
                printf("             %s since %s: %s\n", rollout_health_to_string(h.health), h.since,
                       h.message ? h.message : "");
        else
                printf("             health unknown\n");
}

static void print_client(const LedgerClient *c) {
        _cleanup_free_ char *where = ledger_database_known(&c->database)
                                             ? ledger_database_describe(&c->database, "?")
                                             : strdup("a database not recorded");

        printf("  %s → %s  module %s, registered %s in %s%s%s\n", c->id, c->redirect_uri ? c->redirect_uri : "?",
               c->module, c->applied_at ? c->applied_at : "?", ledger_database_known(&c->database) ? "database " : "",
               where ? where : "?",
               c->kept ? " (kept: the module is off)" : "");
}

int cli_status(CliArgs *a) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(cJSON_Deletep) cJSON *view = NULL;
        Ledger *l;
        int r;

        assert(a);

        cli_say_values(a);
        if (open_manager(a, true, &m) < 0 || manager_ledger(m, &l) < 0)
                return CLI_EXIT_FAILURE;
        r = rollouts_runtime_load(manager_state_dir(m), &view);
        if (r < 0)
                log_warning_errno(r, "Cannot read the daemon's view of the rollouts: %s; health unknown", STRERROR(r));
        if (a->json) {
                cJSON *j = status_json(a, m, l, view);
                char *s = j ? cJSON_Print(j) : NULL;
                cJSON_Delete(j);
                if (!s)
                        return CLI_EXIT_FAILURE;
                puts(s);
                free(s);
                return CLI_EXIT_OK;
        }
        printf("generation %llu; state in '%s'\n", (unsigned long long) l->generation, manager_state_dir(m));
        if (l->last_time)
                printf("last pass: %s, %s: %s\n", l->last_time, l->last_result ? l->last_result : "?",
                       l->last_message ? l->last_message : "");
        else
                printf("last pass: none yet\n");
        printf("objects (%zu):\n", l->n_objects);
        for (size_t i = 0; i < l->n_objects; i++) {
                const LedgerObject *o = &l->objects[i];
                bool partial = streq(o->module, PARTIAL_MODULE) && !o->create_only;
                printf("  %-10s %s%s%s  %s %s, resourceVersion %s, %s %s\n", o->kind,
                       o->namespace ? o->namespace : "", o->namespace ? "/" : "", o->name,
                       partial ? "partial (only fields nap-agent sets), module" : "module", o->module,
                       o->resource_version ? o->resource_version : "?",
                       plan_entry_missing(o)            ? "not found (never created) at"
                       : !o->pending                    ? "applied"
                       : streq(o->pending, "apply")     ? "an apply is pending since"
                                                        : "a delete is pending since",
                       o->applied_at ? o->applied_at : "?");
                if (rollout_kind(o->kind) && !partial)
                        print_health(view, o);
        }
        printf("oauth clients (%zu):\n", l->n_clients);
        for (size_t i = 0; i < l->n_clients; i++)
                print_client(&l->clients[i]);
        return CLI_EXIT_OK;
}
