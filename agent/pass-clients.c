/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A pass's oauth_clients rows: the ones the plan changes (all of them on a
 * resync or a `seed`) are synced in one transaction, at the same time as
 * the objects, into the database DATABASE_URL names or, without it, the
 * ClusterIP of ${APP_PREFIX}-pg-rw read from the API server.
 *
 * The database is part of what the ledger records of a client: when the
 * rows go to another database than the one a client was registered in
 * (another host, port or name, known before connecting; or another server,
 * told by its system identifier once connected), every enabled client is
 * registered there in the same pass, not only the ones the edit changed.
 * Of a row's redirect_uris only the URIs the ledger says the agent
 * registered are taken out; before a new one is written it is noted in the
 * ledger (saved), so that a write whose answer is lost is still known ours.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pass-internal.h"
#include "util/json.h"
#include "util/log-messages.h"
#include "util/log.h"

static void clients_sync(Pass *p, const char *conninfo);

/* This stage starts nothing more: the pass finishes once the other has. */
static void clients_end(Pass *p) {
        p->clients.done = true;
        pass_stage_done(p);
}

void pass_clients_target(Pass *p) {
        int r;

        assert(p);

        p->clients.target_known = false;
        if (p->desired->n_clients == 0)
                return; /* no row to write: DATABASE_URL need not even be parsed */
        r = manager_db_target(p->m, p->config, &p->clients.target);
        if (r < 0) {
                pass_failed(p, r); /* logged */
                return;
        }
        p->clients.target_known = true;
}

static bool clients_has(const PlanAction *const *list, size_t n, const PlanAction *a) {
        for (size_t i = 0; i < n; i++)
                if (list[i] == a)
                        return true;
        return false;
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

/* Whether the ledger has e in another database than the rows go to: by
 * host, port or name (or none recorded), before a sync; by the server's
 * identifier, after one. */
static bool client_moved(const LedgerClient *e, const LedgerDatabase *target, bool by_identifier) {
        if (by_identifier)
                return e->database.system_identifier && target->system_identifier &&
                       !streq(e->database.system_identifier, target->system_identifier);
        return !ledger_database_known(&e->database) || ledger_database_moved(&e->database, target);
}

static void log_moved(const LedgerClient *e, const LedgerDatabase *target) {
        _cleanup_free_ char *from = ledger_database_describe(&e->database, "?");
        _cleanup_free_ char *to = ledger_database_describe(target, "?");

        log_notice("registering oauth client \"%s\" in database %s: it was registered in %s", e->id, strna(to),
                   ledger_database_known(&e->database) ? strna(from) : "a database not recorded");
}

/* The desired clients not synced yet that the ledger has in another
 * database: each is added to the next sync, and said once. */
static size_t add_moved(Pass *p, bool by_identifier) {
        PassClients *cl = &p->clients;
        size_t added = 0;

        for (size_t i = 0; i < p->plan->n_actions; i++) {
                const PlanAction *a = &p->plan->actions[i];
                const LedgerClient *e;
                if (!a->is_client || a->op == PLAN_DELETE || clients_has(cl->actions, cl->n, a) ||
                    clients_has(cl->synced, cl->n_synced, a))
                        continue;
                e = ledger_find_client(p->ledger, a->client_id);
                if (!e || !client_moved(e, &cl->target, by_identifier))
                        continue;
                log_moved(e, &cl->target);
                cl->actions[cl->n++] = a;
                added++;
        }
        return added;
}

/* The rows' specs, each client owning what the ledger says it registered;
 * a URI new to a known client is noted first (and saved: 1 when the save
 * failed, which failed the pass). */
static int clients_specs(Pass *p, OAuthClientSpec **ret) {
        PassClients *cl = &p->clients;
        _cleanup_free_ OAuthClientSpec *specs = calloc(cl->n, sizeof *specs);
        bool save = false;

        if (!specs)
                return -ENOMEM;
        for (size_t i = 0; i < cl->n; i++) {
                bool added = false;
                if (ledger_intend_client_uri(p->ledger, cl->actions[i]->client_id,
                                             cl->actions[i]->client->redirect_uri, &added) < 0)
                        return -ENOMEM;
                save = save || added;
        }
        if (save && pass_save(p, true) < 0)
                return 1;
        for (size_t i = 0; i < cl->n; i++) {
                const DesiredClient *dc = cl->actions[i]->client;
                const LedgerClient *e = ledger_find_client(p->ledger, dc->id);
                specs[i] = (OAuthClientSpec) {
                        .id = dc->id,
                        .name = dc->name,
                        .redirect_uri = dc->redirect_uri,
                        .owned_uris = e ? (const char *const *) e->owned_uris : NULL,
                        .n_owned_uris = e ? e->n_owned_uris : 0,
                };
        }
        *ret = TAKE_PTR(specs);
        return 0;
}

static void on_synced(OAuthDb *db, int r, const OAuthChange *changes, const OAuthError *err, void *userdata);

/* Sends the rows of cl->actions; false when nothing is in flight (the
 * failure, if any, noted). */
static bool clients_send(Pass *p) {
        PassClients *cl = &p->clients;
        _cleanup_free_ OAuthClientSpec *specs = NULL;
        int r;

        r = clients_specs(p, &specs);
        if (r > 0)
                return false; /* logged */
        if (r >= 0)
                r = oauth_sync_start(cl->db, specs, cl->n, NULL, 0, on_synced, p);
        if (r < 0) {
                pass_fail(p, r, "Failed to sync oauth_clients: %s", STRERROR(r));
                return false;
        }
        for (size_t i = 0; i < cl->n; i++)
                cl->synced[cl->n_synced++] = cl->actions[i];
        cl->rounds++;
        cl->db_busy = true;
        return true;
}

/* The rows went where cl->target says, on the server the sync read. */
static int clients_record(Pass *p, const OAuthChange *changes) {
        PassClients *cl = &p->clients;
        const char *sysid = oauth_db_system_identifier(cl->db);

        free(cl->target.system_identifier);
        cl->target.system_identifier = sysid ? strdup(sysid) : NULL;
        if (sysid && !cl->target.system_identifier)
                return -ENOMEM;
        for (size_t i = 0; i < cl->n; i++) {
                log_client_change(p, cl->actions[i], changes[i]);
                if (plan_action_record_client(p->ledger, cl->actions[i], &cl->target) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static void on_synced(OAuthDb *db, int r, const OAuthChange *changes, const OAuthError *err, void *userdata) {
        Pass *p = userdata;
        PassClients *cl = &p->clients;

        cl->db_busy = false;
        if (r < 0)
                pass_fail_fields(p, r, LOG_FIELDS(.message_id = db_unreachable(r) ? NAP_MESSAGE_DATABASE_UNREACHABLE : NULL),
                                 "Failed to sync oauth_clients: %s", err ? err->message : STRERROR(r));
        else if ((r = clients_record(p, changes)) < 0)
                pass_fail(p, r, "Out of memory");
        cl->n = 0;
        /* Another server behind the same address: the clients this pass
         * did not write are not in it yet. */
        if (r >= 0 && cl->rounds == 1 && add_moved(p, true) > 0 && clients_send(p))
                return;
        clients_end(p);
}

/* The database is known: the planned rows, and every other enabled client
 * it does not hold yet as far as the ledger knows. */
static void clients_sync(Pass *p, const char *conninfo) {
        PassClients *cl = &p->clients;
        int r;

        r = manager_db_for(p->m, conninfo, &cl->db);
        if (r < 0) {
                pass_failed(p, r);
                clients_end(p);
                return;
        }
        if (manager_db_where(cl->db, &cl->target) < 0) {
                pass_fail(p, ENOMEM, "Out of memory");
                clients_end(p);
                return;
        }
        (void) add_moved(p, false);
        if (!clients_send(p))
                clients_end(p);
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
        assert(p);
        assert(a);

        return a->is_client && a->op != PLAN_DELETE &&
               (a->op != PLAN_UNCHANGED || (p->opts.flags & (PASS_RESYNC | PASS_CLIENTS_ONLY)));
}

static int clients_collect(Pass *p) {
        const Plan *plan = p->plan;
        PassClients *cl = &p->clients;

        cl->actions = calloc(plan->n_actions + 1, sizeof *cl->actions);
        cl->synced = calloc(plan->n_actions + 1, sizeof *cl->synced);
        if (!cl->actions || !cl->synced)
                return -ENOMEM;
        for (size_t i = 0; i < plan->n_actions; i++)
                if (pass_clients_relevant(p, &plan->actions[i]))
                        cl->actions[cl->n++] = &plan->actions[i];
        return 0;
}

/* The database's Service, read for its ClusterIP. */
static int clients_find_service(Pass *p) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        KubeClient *k;
        int r;

        r = manager_kube(p->m, p->config, &k);
        if (r < 0) {
                pass_failed(p, r);
                return r;
        }
        if (asprintf(&name, "%s-pg-rw", config_get(p->config, "APP_PREFIX")) < 0)
                r = -ENOMEM;
        if (r >= 0) {
                KubeRef ref = { "v1", "Service", config_get(p->config, "NAMESPACE"), name };
                r = kube_path(&ref, &path);
        }
        if (r >= 0)
                r = kube_get_start(k, path, on_pg_service, p, &p->clients.pg_op);
        if (r < 0)
                pass_fail(p, r, "Failed to find the database: %s", STRERROR(r));
        return r;
}

/* The rows go at the same time as the objects: they are independent. */
void pass_clients_start(Pass *p) {
        _cleanup_free_ char *conninfo = NULL;
        int r;

        assert(p);

        r = p->clients.target_known ? clients_collect(p) : 0;
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
        if (r < 0)
                pass_fail(p, r, "Out of memory");
        if (r < 0 || clients_find_service(p) < 0)
                p->clients.done = true;
}

void pass_clients_cancel(Pass *p) {
        assert(p);

        kube_op_cancel(p->clients.pg_op);
        p->clients.pg_op = NULL;
        if (p->clients.db_busy)
                manager_db_cancel(p->m);
        p->clients.db_busy = false;
        p->clients.done = true;
}

void pass_clients_free(Pass *p) {
        assert(p);

        free(p->clients.actions);
        free(p->clients.synced);
        ledger_database_clear(&p->clients.target);
        p->clients.actions = NULL;
        p->clients.synced = NULL;
        p->clients.n = p->clients.n_synced = 0;
}
