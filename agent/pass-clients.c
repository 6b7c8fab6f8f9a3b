/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A pass's oauth_clients rows: the ones the plan changes (all of them on a
 * resync or a `seed`) are synced in one transaction, at the same time as
 * the objects, into the database DATABASE_URL names or, without it, the
 * ClusterIP of ${APP_PREFIX}-pg-rw read from the API server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pass-internal.h"
#include "util/json.h"
#include "util/log-messages.h"
#include "util/log.h"

/* This stage starts nothing more: the pass finishes once the other has. */
static void clients_end(Pass *p) {
        p->clients.done = true;
        pass_stage_done(p);
}

/* Failures that say the database cannot be reached or refuses the agent
 * (oauth.h), rather than something about the rows. */
static bool db_unreachable(int r) {
        return r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -ETIMEDOUT || r == -ECONNRESET || r == -EACCES;
}

static void log_client_change(Pass *p, const PlanAction *a, OAuthChange ch) {
        bool resync = (p->opts.flags & (PASS_RESYNC | PASS_CLIENTS_ONLY)) && a->op == PLAN_UNCHANGED;

        switch (ch) {
        case OAUTH_CREATED:
        case OAUTH_UPDATED:
                if (resync) {
                        log_struct(LOG_NOTICE, 0,
                                   LOG_FIELDS(.message_id = NAP_MESSAGE_DRIFT_REPAIRED, .client = a->client_id,
                                              .module = a->module),
                                   "repaired oauth client \"%s\" (its row had been %s)", a->client_id,
                                   ch == OAUTH_CREATED ? "deleted" : "changed");
                        p->res.clients_repaired++;
                } else
                        p->res.clients_changed++;
                log_struct(LOG_INFO, 0, LOG_FIELDS(.client = a->client_id, .module = a->module), "registered \"%s\" → %s",
                           a->client_id, a->client->redirect_uri);
                break;
        default:
                break;
        }
}

static void on_synced(OAuthDb *db, int r, const OAuthChange *changes, const OAuthError *err, void *userdata) {
        Pass *p = userdata;

        p->clients.db_busy = false;
        if (r < 0)
                pass_fail_fields(p, r, LOG_FIELDS(.message_id = db_unreachable(r) ? NAP_MESSAGE_DATABASE_UNREACHABLE : NULL),
                                 "Failed to sync oauth_clients: %s", err ? err->message : STRERROR(r));
        for (size_t i = 0; r >= 0 && i < p->clients.n; i++) {
                log_client_change(p, p->clients.actions[i], changes[i]);
                if (plan_action_record(p->ledger, p->clients.actions[i], NULL) < 0)
                        pass_fail(p, ENOMEM, "Out of memory");
        }
        clients_end(p);
}

static void clients_sync(Pass *p, const char *conninfo) {
        OAuthDb *db;
        int r;

        r = manager_db_for(p->m, conninfo, &db);
        if (r < 0)
                pass_failed(p, r);
        else if ((r = oauth_sync_start(db, p->clients.specs, p->clients.n, NULL, 0, on_synced, p)) < 0)
                pass_fail(p, r, "Failed to sync oauth_clients: %s", STRERROR(r));
        if (r < 0) {
                clients_end(p);
                return;
        }
        p->clients.db_busy = true;
}

static void on_pg_service(int r, cJSON *svc, const KubeError *err, void *userdata) {
        Pass *p = userdata;
        _cleanup_free_ char *conninfo = NULL;
        const char *ip = json_string(JSON_GET(svc, "spec"), "clusterIP");

        p->clients.pg_op = NULL;
        if (r < 0 || !ip || streq(ip, "None")) {
                pass_fail_fields(p, r < 0 ? r : -EADDRNOTAVAIL, LOG_FIELDS(.message_id = NAP_MESSAGE_DATABASE_UNREACHABLE),
                                 "Failed to find the database (set DATABASE_URL in values.env to skip this): "
                                 "Service '%s-pg-rw': %s", config_get(p->config, "APP_PREFIX"),
                                 r < 0 && err ? err->message : "it has no ClusterIP");
                cJSON_Delete(svc);
                clients_end(p);
                return;
        }
        conninfo = manager_db_conninfo_for_host(p->config, ip);
        cJSON_Delete(svc);
        if (!conninfo) {
                pass_fail(p, ENOMEM, "Out of memory");
                clients_end(p);
                return;
        }
        clients_sync(p, conninfo);
        explicit_bzero(conninfo, strlen(conninfo));
}

bool pass_clients_relevant(const Pass *p, const PlanAction *a) {
        return a->is_client && a->op != PLAN_DELETE &&
               (a->op != PLAN_UNCHANGED || (p->opts.flags & (PASS_RESYNC | PASS_CLIENTS_ONLY)));
}

static int clients_collect(Pass *p) {
        const Plan *plan = p->plan;

        PassClients *cl = &p->clients;

        cl->specs = calloc(plan->n_actions + 1, sizeof *cl->specs);
        cl->actions = calloc(plan->n_actions + 1, sizeof *cl->actions);
        if (!cl->specs || !cl->actions)
                return -ENOMEM;
        for (size_t i = 0; i < plan->n_actions; i++) {
                const PlanAction *a = &plan->actions[i];
                if (!pass_clients_relevant(p, a))
                        continue;
                cl->specs[cl->n] = (OAuthClientSpec) { a->client->id, a->client->name, a->client->redirect_uri };
                cl->actions[cl->n++] = a;
        }
        return 0;
}

/* The rows go at the same time as the objects: they are independent. */
void pass_clients_start(Pass *p) {
        _cleanup_free_ char *conninfo = NULL, *path = NULL, *name = NULL;
        KubeClient *k;
        int r;

        r = clients_collect(p);
        if (r < 0 || p->clients.n == 0) {
                if (r < 0)
                        pass_fail(p, r, "Out of memory");
                p->clients.done = true;
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
                p->clients.done = true;
                return;
        }
        if (r >= 0 && asprintf(&name, "%s-pg-rw", config_get(p->config, "APP_PREFIX")) < 0)
                r = -ENOMEM;
        if (r >= 0) {
                KubeRef ref = { "v1", "Service", config_get(p->config, "NAMESPACE"), name };
                r = kube_path(&ref, &path);
        }
        if (r >= 0)
                r = kube_get_start(k, path, on_pg_service, p, &p->clients.pg_op);
        if (r < 0) {
                pass_fail(p, r, "Failed to find the database: %s", STRERROR(r));
                p->clients.done = true;
        }
}

void pass_clients_cancel(Pass *p) {
        kube_op_cancel(p->clients.pg_op);
        p->clients.pg_op = NULL;
        if (p->clients.db_busy)
                manager_db_cancel(p->m);
        p->clients.db_busy = false;
        p->clients.done = true;
}

void pass_clients_free(Pass *p) {
        free(p->clients.specs);
        free(p->clients.actions);
        p->clients.specs = NULL;
        p->clients.actions = NULL;
        p->clients.n = 0;
}
