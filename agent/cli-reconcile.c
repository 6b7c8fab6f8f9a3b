/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verbs that reconcile: plan, apply, seed, status and run. They run
 * the pass (or its first half) once, in the foreground, or the daemon.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-verbs.h"
#include "daemon-rollouts.h"
#include "daemon.h"
#include "kube-adopt.h"
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

static int fetch_client(const char *id, char **ret_name, char **ret_uri, void *userdata) {
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
        *ret_name = row->name ? strdup(row->name) : NULL;
        *ret_uri = row->n_redirect_uris > 0 && row->redirect_uris[0] ? strdup(row->redirect_uris[0]) : NULL;
        return 1;
}

int cli_plan(CliArgs *a) {
        _cleanup_(cli_session_clear) CliSession s = { 0 };
        _cleanup_(plan_freep) Plan *p = NULL;
        int r;

        if (cli_session_open(a, "nothing would be applied", &s) < 0)
                return CLI_EXIT_FAILURE;
        Manager *m = s.m;
        const Config *c = s.config;
        DesiredSet *d = s.desired;
        Ledger *l;
        if (manager_ledger(m, &l) < 0) /* logged */
                return CLI_EXIT_FAILURE;
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
                r = plan_compute_live(d, c, l, fetch_live, fetch_client, &ctx, &p);
        } else
                r = plan_compute(d, c, l, &p);
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
                .timeout_usec = (uint64_t) a->rollout_timeout_seconds * 1000000ULL,
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

static int run_pass(const CliArgs *a, unsigned flags) {
        _cleanup_(manager_freep) Manager *m = NULL;
        PassResult res = { 0 };
        int r;

        if (open_manager(a, false, &m) < 0)
                return CLI_EXIT_FAILURE;
        r = pass_run(m, NULL, &(PassOptions) { .flags = flags, .deadline_usec = PASS_DEADLINE_DEFAULT_USEC }, &res);
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
        return run_pass(a, a->resync ? PASS_RESYNC : 0);
}

int cli_run(CliArgs *a) {
        _cleanup_(manager_freep) Manager *m = NULL;
        /* The options say 0 for "never"; inside, that is USEC_INFINITY. */
        DaemonOptions o = {
                .settle_usec = (usec_t) a->settle_ms * USEC_PER_MSEC,
                .resync_usec = a->resync_seconds ? (usec_t) a->resync_seconds * USEC_PER_SEC : USEC_INFINITY,
                .idle_close_usec = a->idle_close_seconds ? (usec_t) a->idle_close_seconds * USEC_PER_SEC : USEC_INFINITY,
                .rollout_timeout_usec = (usec_t) a->rollout_timeout_seconds * USEC_PER_SEC,
        };

        if (open_manager(a, false, &m) < 0)
                return CLI_EXIT_FAILURE;
        return daemon_run(m, &o) < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cli_seed(CliArgs *a) {
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

static cJSON *status_json(const Manager *m, const Ledger *l, const cJSON *view) {
        cJSON *j = cJSON_CreateObject(), *last, *objs, *cls;

        cJSON_AddNumberToObject(j, "generation", (double) l->generation);
        cJSON_AddStringToObject(j, "stateDir", manager_state_dir(m));
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
                if (streq(o->module, PARTIAL_MODULE))
                        cJSON_AddBoolToObject(e, "partial", true);
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

int cli_status(CliArgs *a) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(cJSON_Deletep) cJSON *view = NULL;
        Ledger *l;
        int r;

        if (open_manager(a, true, &m) < 0 || manager_ledger(m, &l) < 0)
                return CLI_EXIT_FAILURE;
        r = rollouts_runtime_load(manager_state_dir(m), &view);
        if (r < 0)
                log_warning_errno(r, "Cannot read the daemon's view of the rollouts: %s; health unknown", STRERROR(r));
        if (a->json) {
                cJSON *j = status_json(m, l, view);
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
                bool partial = streq(o->module, PARTIAL_MODULE);
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
                printf("  %s → %s  module %s, registered %s%s\n", l->clients[i].id,
                       l->clients[i].redirect_uri ? l->clients[i].redirect_uri : "?", l->clients[i].module,
                       l->clients[i].applied_at ? l->clients[i].applied_at : "?",
                       l->clients[i].kept ? " (kept: the module is off)" : "");
        return CLI_EXIT_OK;
}
