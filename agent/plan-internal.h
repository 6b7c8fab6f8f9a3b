/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the plan (not for its callers): what plan.c shares with its
 * other files: plan-clients.c (the oauth clients' rows), plan-live.c (the
 * plan against the cluster), plan-kinds.c
 * (objects not applied by server-side apply) and plan-platform.c (the keys
 * only install.sh applies).
 */
#pragma once

#include "plan.h"

/* Appends an action (zeroed but for op, is_client and module); NULL when
 * out of memory. */
PlanAction *plan_action_add(Plan *p, PlanOp op, bool is_client, const char *module);
/* *dst = a copy of s (NULL stays NULL); -ENOMEM. */
int plan_strdup_into(char **dst, const char *s);
/* Appends a formatted line to a list of them: an action's changes, a plan's notes. */
int plan_lines_add(char ***lines, size_t *n, const char *format, ...) _printf_(3, 4);
#define add_change(a, ...) plan_lines_add(&(a)->changes, &(a)->n_changes, __VA_ARGS__)
#define add_note(p, ...) plan_lines_add(&(p)->notes, &(p)->n_notes, __VA_ARGS__)

/* An object's secret-free view: its body with each secret value replaced
 * by its keyed digest. NULL without memory. */
cJSON *plan_object_view(const DesiredObject *o, const Config *c, const Ledger *l);
/* The keyed digest of what the agent applies of o. */
void plan_object_digest(const Ledger *l, const DesiredObject *o, char ret[LEDGER_DIGEST_HEX]);
/* a's changes: the fields that differ between two views. */
int plan_diff_views(PlanAction *a, const cJSON *old, const cJSON *new);

/* ---- plan-live.c ---- */

/* The action of a desired object against the cluster (fetch gives what a
 * dry-run apply would make and the live object). */
int plan_live_object(Plan *p, const DesiredObject *o, const Config *c, const Ledger *l, PlanLiveFetch fetch,
                     void *userdata);
/* A note of how many workloads in the cluster the apply restarts. */
int plan_note_pod_templates(Plan *p);

/* ---- plan-clients.c ---- */

/* The action of a desired client, from the ledger. */
int plan_desired_client(Plan *p, const DesiredClient *dc, const Config *c, const Ledger *l,
                        const LedgerDatabase *db);
/* The action of a desired client, from its row in the database. */
int plan_live_client(Plan *p, const DesiredClient *dc, const Config *c, const Ledger *l, const LedgerDatabase *db,
                     PlanLiveClient fetch, void *userdata);

/* ---- plan-kinds.c, plan-platform.c ---- */

/* The objects that are not applied by server-side apply (plan-kinds.c):
 * a create-only object is created when missing and else unchanged; a
 * list-entry one is an update while an entry of its list is not there.
 * They set a's op and changes from the ledger's entry e (NULL: none), or
 * from the live object (NULL: none), and return 1; 0 for any other object. */
int plan_kind_from_ledger(Plan *p, PlanAction *a, const LedgerObject *e);
int plan_kind_from_live(Plan *p, PlanAction *a, const cJSON *live);

/* Fills p's platform keys from c, each flagged when its keyed digest
 * differs from what l recorded (plan-platform.c). */
int plan_platform_keys_compute(Plan *p, const Config *c, const Ledger *l);
void plan_platform_keys_free(Plan *p);
