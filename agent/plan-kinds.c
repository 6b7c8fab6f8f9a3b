/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The objects the agent does not apply by server-side apply (template.h):
 *
 *   create-only   the registry login's Secret: created when it does not
 *                 exist, as install.sh's `kubectl create secret`, and then
 *                 left alone: never overwritten (an operator may have made
 *                 it with other credentials), never deleted;
 *   list entries  a partial object whose list (the default ServiceAccount's
 *                 imagePullSecrets) gets the agent's entries beside every
 *                 other one. Server-side apply cannot do that here: the
 *                 list is atomic (no merge key) on Kubernetes 1.20, so an
 *                 apply of one entry replaces the whole list, which the
 *                 harness showed; the pass reads the object and adds what
 *                 is missing instead, and never removes an entry.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan-internal.h"
#include "util/json.h"

/* The entries of o's list_entries list (matched by "name") that live, the
 * object as read, lacks: a new JSON array, empty when it has them all. */
static int plan_list_entries_missing(const DesiredObject *o, const cJSON *live, cJSON **ret) {
        cJSON *missing = json_missing_by_name(cJSON_GetObjectItemCaseSensitive(o->body, o->list_entries),
                                              live ? cJSON_GetObjectItemCaseSensitive(live, o->list_entries) : NULL);

        if (!missing)
                return -ENOMEM;
        *ret = missing;
        return 0;
}

/* One "(added)" line per entry of list, as the other changes read. */
static int entry_changes(PlanAction *a, const cJSON *list) {
        const cJSON *e;

        cJSON_ArrayForEach(e, list) {
                const char *n = json_string(e, "name");
                if (n && add_change(a, "%s[name=%s]: (added, beside the entries already there)",
                                    a->object->list_entries, n) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int plan_kind_from_ledger(Plan *p, PlanAction *a, const LedgerObject *e) {
        const DesiredObject *o;

        assert(p);
        assert(a);
        assert(a->object);

        o = a->object;
        if (o->create_only) {
                a->adopt = false;
                a->op = !e || (e->pending && streq(e->pending, "apply")) ? PLAN_CREATE : PLAN_UNCHANGED;
                if (a->op == PLAN_UNCHANGED && !streq(e->digest, a->digest) &&
                    add_note(p, "%s %s/%s exists and is never overwritten: the new registry login is not written "
                             "to it (delete it, and `nap-agent apply --resync` or the daemon's resync makes it anew)", o->kind, o->namespace, o->name) < 0)
                        return -ENOMEM;
                return 1;
        }
        if (!o->list_entries)
                return 0;
        a->adopt = false;
        a->op = e && !e->pending && streq(e->digest, a->digest) ? PLAN_UNCHANGED : PLAN_UPDATE;
        if (a->op == PLAN_UPDATE && entry_changes(a, cJSON_GetObjectItemCaseSensitive(o->body, o->list_entries)) < 0)
                return -ENOMEM;
        return 1;
}

int plan_kind_from_live(Plan *p, PlanAction *a, const cJSON *live) {
        _cleanup_(cJSON_Deletep) cJSON *missing = NULL;
        const DesiredObject *o;

        assert(p);
        assert(a);
        assert(a->object);

        o = a->object;
        if (o->create_only) {
                a->adopt = false;
                a->op = live ? PLAN_UNCHANGED : PLAN_CREATE;
                return 1;
        }
        if (!o->list_entries)
                return 0;
        a->adopt = false;
        if (!live) {
                a->op = PLAN_UNCHANGED;
                if (add_note(p, "%s %s/%s does not exist, so its %s cannot get the entries of %s (it is never "
                             "created)", o->kind, o->namespace, o->name, o->list_entries, o->source) < 0)
                        return -ENOMEM;
                return 1;
        }
        if (plan_list_entries_missing(o, live, &missing) < 0)
                return -ENOMEM;
        a->op = cJSON_GetArraySize(missing) > 0 ? PLAN_UPDATE : PLAN_UNCHANGED;
        return entry_changes(a, missing) < 0 ? -ENOMEM : 1;
}
