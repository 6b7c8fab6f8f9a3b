/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stage 4 of the pipeline: desired set + ledger -> ordered actions.
 *
 * An object or client whose keyed digest equals the ledger's is unchanged
 * and costs no request. What the ledger holds and the desired set does not
 * is deleted only when its module's toggle is in values.env: explicitly
 * false (the module was turned off) or true (the object was renamed or
 * dropped from the templates). A module whose toggle line is missing keeps
 * everything it has, and the plan says why in a note (DESIGN.md §7).
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
        /* both */
        char digest[LEDGER_DIGEST_HEX]; /* keyed digest of what is desired */
        char **changes;                 /* human "path: old → new" lines */
        size_t n_changes;
        char *reason;                   /* why a delete happens */
} PlanAction;

typedef struct Plan {
        PlanAction *actions;
        size_t n_actions;
        char **notes;
        size_t n_notes;
        /* plan --live: the workloads in the cluster, and those whose pod
         * template the apply changes (their pods are replaced) */
        size_t n_pod_templates;
        size_t n_pod_templates_changed;
} Plan;

/* Computes the plan. desired and l must outlive the plan. */
int plan_compute(const DesiredSet *desired, const Config *c, const Ledger *l, Plan **ret);
Plan *plan_free(Plan *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Plan *, plan_free);

size_t plan_count(const Plan *p, PlanOp op, bool clients);
/* Whether any action is not PLAN_UNCHANGED. */
bool plan_has_changes(const Plan *p);

/* The reviewer's view: a summary line, one line per change with the changed
 * fields indented below, and the notes. Secrets print as <redacted>. */
void plan_print(const Plan *p, FILE *f, bool show_unchanged);

/* Secret-free view of o: every Secret value and every string holding a
 * secret of c becomes "<redacted:HMAC12>" keyed with l. Caller owns it. */
cJSON *plan_object_view(const DesiredObject *o, const Config *c, const Ledger *l);
/* Keyed digest of a desired client. */
void plan_client_digest(const Ledger *l, const DesiredClient *dc, char ret[LEDGER_DIGEST_HEX]);
/* For `plan --live`: fetch returns what the apply of o would leave (a
 * server-side dry run, *ret_would_be) and the live object (*ret_live, NULL
 * when it does not exist); fetch_client returns 1 with the stored name and first
 * redirect_uri of a client row, 0 when there is none. Negative aborts. */
typedef int (*PlanLiveFetch)(const DesiredObject *o, cJSON **ret_would_be, cJSON **ret_live, void *userdata);
typedef int (*PlanLiveClient)(const char *id, char **ret_name, char **ret_redirect_uri, void *userdata);

/* Like plan_compute(), but compares with the cluster (fetch) and the
 * database (fetch_client), so it also shows drift, and notes how many pod
 * templates in the cluster the apply changes (zero when it takes over
 * install.sh's workloads); deletes still come from the ledger. A NULL
 * fetch or fetch_client compares with the ledger instead. */
int plan_compute_live(const DesiredSet *desired, const Config *c, const Ledger *l, PlanLiveFetch fetch,
                      PlanLiveClient fetch_client, void *userdata, Plan **ret);

/* A partial object's entry (module PARTIAL_MODULE) that the last pass found
 * missing: recorded with its digest and no resourceVersion, so that a pass
 * that changes nothing does not look again (a resync does). */
bool plan_entry_missing(const LedgerObject *e);
/* Forgets the entries of partial objects no longer desired while another
 * one is (a new APP_PREFIX or NAMESPACE): they are never deleted, only left
 * as they are. Returns how many. */
size_t plan_forget_partials(Ledger *l, const DesiredSet *d);

/* Brings the ledger in line with a carried-out action (records what was
 * applied, forgets what was deleted). */
int plan_action_record(Ledger *l, const PlanAction *a, const char *resource_version);
/* "Kind namespace/name" of an action (malloc'ed). */
char *plan_action_id(const PlanAction *a);
