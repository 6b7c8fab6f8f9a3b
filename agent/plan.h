/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stage 4 of the pipeline: desired set + ledger -> ordered actions.
 *
 * An object or client whose keyed digest equals the ledger's is unchanged
 * and costs no request. What the ledger holds and the desired set does not
 * is deleted only when its module's toggle is in values.env: explicitly
 * false (the module was turned off) or true (the object was renamed or
 * dropped from the templates). A module whose toggle line is missing keeps
 * everything it has, and the plan says why in a note (docs/design.md, "The
 * plan and the ledger").
 *
 * Order: deletes first, Deployments before Services before Secrets (so a
 * NodePort held by an old Service is free before a new one asks for it);
 * then creates and updates, Secrets and ConfigMaps, Services, Deployments;
 * then the oauth clients.
 */
#pragma once

#include <stdio.h>

#include "config.h"
#include "ledger.h"
#include "template.h"
#include "util/strv.h"

typedef enum PlanOp {
        PLAN_CREATE,
        PLAN_UPDATE,
        PLAN_DELETE,
        PLAN_UNCHANGED,
} PlanOp;

typedef struct PlanAction {
        PlanOp op;
        bool is_client;
        char *module;
        /* objects */
        char *api_version;
        char *kind;
        char *namespace;
        char *name;
        const DesiredObject *object; /* NULL for deletes */
        cJSON *view;                 /* secret-free view of the desired object */
        bool adopt;                  /* not in the ledger: may exist from install.sh */
        /* clients */
        const DesiredClient *client; /* NULL for deletes */
        char *client_id;
        bool new_database;           /* the ledger has it in another database: registered in this one */
        /* both */
        char digest[LEDGER_DIGEST_HEX]; /* keyed digest of what is desired */
        char **changes;                 /* human "path: old → new" lines */
        size_t n_changes;
        char *reason;                   /* why a delete happens */
} PlanAction;

/* A key of values.env that only the platform's install.sh applies
 * (config-platform.c), with the keyed digest of its value now. */
typedef struct PlanPlatformKey {
        const char *name;               /* static */
        char digest[LEDGER_DIGEST_HEX]; /* HMAC of its value with the ledger's key: never the value */
        bool changed;                   /* differs from what the last pass recorded */
        bool modules_too;               /* the agent applies it to the modules' objects as well */
} PlanPlatformKey;

typedef struct Plan {
        PlanAction *actions;
        size_t n_actions;
        char **notes;
        size_t n_notes;
        PlanPlatformKey *platform_keys; /* every one of them, in config-platform.c's order */
        size_t n_platform_keys;
        /* plan --live: the workloads in the cluster, and those whose pod
         * template the apply changes (their pods are replaced) */
        size_t n_pod_templates;
        size_t n_pod_templates_changed;
} Plan;

/* Computes the plan. desired and l must outlive the plan. db: the database
 * the rows go to as far as it is known without connecting (a NULL field:
 * not known; NULL: nothing known); a client recorded in another one is
 * registered there (PLAN_UPDATE, new_database). */
int plan_compute(const DesiredSet *desired, const Config *c, const Ledger *l, const LedgerDatabase *db, Plan **ret);
Plan *plan_free(Plan *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Plan *, plan_free);

size_t plan_count(const Plan *p, PlanOp op, bool clients);
/* Whether any action is not PLAN_UNCHANGED. */
bool plan_has_changes(const Plan *p);

/* The reviewer's view: a summary line, one line per change with the changed
 * fields indented below, and the notes. Secrets print as <redacted>. */
void plan_print(const Plan *p, FILE *f, bool show_unchanged);

/* For `plan --live`: fetch returns what a server-side dry-run apply of o
 * would leave (*ret_would_be) and the live object (*ret_live, NULL when it
 * does not exist); fetch_client returns 1 with the stored name and
 * redirect_uris (in order; a NULL element as "") of a client row, 0 when
 * there is none. Negative aborts. */
typedef int (*PlanLiveFetch)(const DesiredObject *o, cJSON **ret_would_be, cJSON **ret_live, void *userdata);
typedef int (*PlanLiveClient)(const char *id, char **ret_name, Strv *ret_redirect_uris, void *userdata);

/* Like plan_compute(), but compares with the cluster (fetch) and the
 * database (fetch_client, read in db), so it also shows drift: a row's
 * change as the upsert would make it, and a URI nap-agent did not register
 * as kept (a note); and notes how many pod templates in the cluster the
 * apply changes (zero when it takes over install.sh's workloads); deletes
 * still come from the ledger. A NULL fetch or fetch_client compares with
 * the ledger instead. */
int plan_compute_live(const DesiredSet *desired, const Config *c, const Ledger *l, const LedgerDatabase *db,
                      PlanLiveFetch fetch, PlanLiveClient fetch_client, void *userdata, Plan **ret);

/* A partial object's entry (module PARTIAL_MODULE) that the last pass found
 * missing: recorded with its digest and no resourceVersion, so that a pass
 * that changes nothing does not look again (a resync does). */
bool plan_entry_missing(const LedgerObject *e);
/* Forgets the entries of partial objects no longer desired while another
 * one is (a new APP_PREFIX or NAMESPACE, no IMAGE_PULL_SECRET any more),
 * and of create-only objects no longer desired: they are never deleted,
 * only left as they are. Returns how many. */
size_t plan_forget_partials(Ledger *l, const DesiredSet *d);

/* How many of the platform's keys changed since the last pass (what the
 * pass and `plan` report, once per edit). */
size_t plan_platform_keys_changed(const Plan *p);
/* The one line said about a changed platform key: which key, and that
 * `install.sh --manifests-only` applies it (malloc'ed; no value in it). */
int plan_platform_key_notice(const PlanPlatformKey *k, char **ret);
/* Records the platform keys' digests in the ledger (what a pass does, so
 * that the next one says nothing of the same edit). Returns 1 when the
 * ledger changed, 0 when it already held them. */
int plan_platform_keys_record(Ledger *l, const Plan *p);

/* Brings the ledger in line with a carried-out action (records what was
 * applied, with the object's uid, forgets what was deleted). */
int plan_action_record(Ledger *l, const PlanAction *a, const char *resource_version, const char *uid);

/* Before a plan acts on the ledger: every object entry without the agent's
 * seal (one of an older ledger, or one written into the file by someone
 * else) must name an object the agent can have rendered from c: a kind the
 * templates render, in NAMESPACE (or the namespace of a desired object).
 * Those are sealed (as of the next save); the first that is not refuses
 * the ledger as corrupt: -EUCLEAN, *ret_message naming the file and the
 * entry, and l->refused set (it is never saved). Sealed entries of another namespace are the agent's own (an
 * earlier NAMESPACE) and pass. */
int plan_check_ledger(const DesiredSet *d, const Config *c, Ledger *l, char **ret_message);
/* The same for a client action whose row was written to db (NULL: not known). */
int plan_action_record_client(Ledger *l, const PlanAction *a, const LedgerDatabase *db);
/* "Kind namespace/name" of an action (malloc'ed). */
char *plan_action_id(const PlanAction *a);
