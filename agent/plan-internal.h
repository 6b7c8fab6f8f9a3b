/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the plan (not for its callers): what plan.c, which plans the
 * objects and prunes, shares with plan-clients.c, which plans the oauth
 * clients' rows.
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

/* ---- plan-clients.c ---- */

/* The action of a desired client, from the ledger. */
int plan_desired_client(Plan *p, const DesiredClient *dc, const Config *c, const Ledger *l,
                        const LedgerDatabase *db);
/* The action of a desired client, from its row in the database. */
int plan_live_client(Plan *p, const DesiredClient *dc, const Config *c, const Ledger *l, const LedgerDatabase *db,
                     PlanLiveClient fetch, void *userdata);
