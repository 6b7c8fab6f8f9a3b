/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The live plan (`plan --live`): each desired object against what the
 * API server has and what a dry-run apply of it would make, both as
 * secret-free views; and whether the apply replaces a workload's pods.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan-internal.h"
#include "util/json.h"
#include "util/macro.h"

/* Drops what the server owns (status, bookkeeping metadata), so that a
 * dry-run result and the live object compare on what the agent sets. */
static void strip_server_fields(cJSON *j) {
        static const char *const meta[] = { "managedFields", "resourceVersion", "generation", "creationTimestamp",
                                            "uid", "selfLink" };
        cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "metadata");

        cJSON_DeleteItemFromObjectCaseSensitive(j, "status");
        for (size_t i = 0; i < ELEMENTSOF(meta); i++)
                cJSON_DeleteItemFromObjectCaseSensitive(m, meta[i]);
}

/* A server object as a secret-free view, like plan_object_view(). */
static cJSON *live_view(cJSON *live, const DesiredObject *o, const Config *c, const Ledger *l) {
        DesiredObject tmp = *o;

        strip_server_fields(live);
        tmp.body = live;
        tmp.secret_digest_input = NULL; /* the live annotation is shown as it is */
        return plan_object_view(&tmp, c, l);
}

/* A workload in the cluster: whether the apply changes its pod template
 * (a rollout: every pod replaced, coturn's relay down while it restarts). */
static int count_pod_template(Plan *p, const PlanAction *a, const cJSON *live, const cJSON *would) {
        const cJSON *lt = JSON_GET(live, "spec", "template"), *wt = JSON_GET(would, "spec", "template");
        _cleanup_free_ char *cl = NULL, *cw = NULL;

        if (!lt)
                return 0;
        p->n_pod_templates++;
        cl = json_canonical(lt);
        cw = wt ? json_canonical(wt) : strdup("");
        if (!cl || !cw)
                return -ENOMEM;
        if (streq(cl, cw))
                return 0;
        p->n_pod_templates_changed++;
        return add_note(p, "the pod template of %s %s/%s changes: its pods are replaced", a->kind, a->namespace,
                        a->name);
}

/* How many of the workloads in the cluster the apply restarts. */
int plan_note_pod_templates(Plan *p) {
        if (p->n_pod_templates == 0)
                return 0;
        if (p->n_pod_templates_changed == 0)
                return add_note(p, "pod templates: none of the %zu in the cluster changes: no pod is restarted",
                                p->n_pod_templates);
        return add_note(p, "pod templates: %zu of the %zu in the cluster change: their pods are replaced",
                        p->n_pod_templates_changed, p->n_pod_templates);
}

int plan_live_object(Plan *p, const DesiredObject *o, const Config *c, const Ledger *l, PlanLiveFetch fetch,
                     void *userdata) {
        cJSON *would = NULL, *live = NULL, *vw = NULL, *vl = NULL;
        char *cw = NULL, *cl = NULL;
        PlanAction *a;
        int r;

        r = fetch(o, &would, &live, userdata);
        if (r < 0)
                return r;
        a = plan_action_add(p, PLAN_CREATE, false, o->modules);
        if (!a || plan_strdup_into(&a->api_version, o->api_version) < 0 || plan_strdup_into(&a->kind, o->kind) < 0 ||
            plan_strdup_into(&a->namespace, o->namespace) < 0 || plan_strdup_into(&a->name, o->name) < 0) {
                r = -ENOMEM;
                goto finish;
        }
        a->object = o;
        a->adopt = !o->partial && !ledger_find_object(l, o->kind, o->namespace, o->name);
        plan_object_digest(l, o, a->digest);
        a->view = plan_object_view(o, c, l);
        if (!a->view) {
                r = -ENOMEM;
                goto finish;
        }
        r = plan_kind_from_live(p, a, live);
        if (r != 0) {
                r = r < 0 ? r : 0;
                goto finish;
        }
        if (!live && o->partial) {
                /* Never created: nothing to do but say so. */
                a->op = PLAN_UNCHANGED;
                r = add_note(p, "%s %s/%s (the platform's own) does not exist, so the fields of %s cannot be set on "
                             "it (it is never created: is the platform installed in namespace '%s'?)", o->kind,
                             o->namespace, o->name, o->source, o->namespace);
                goto finish;
        }
        if (!live)
                goto finish; /* missing in the cluster: create */
        vw = live_view(would, o, c, l);
        vl = live_view(live, o, c, l);
        if (!vw || !vl) {
                r = -ENOMEM;
                goto finish;
        }
        cw = json_canonical(vw);
        cl = json_canonical(vl);
        if (!cw || !cl) {
                r = -ENOMEM;
                goto finish;
        }
        a->op = streq(cw, cl) ? PLAN_UNCHANGED : PLAN_UPDATE;
        if (a->op == PLAN_UPDATE)
                r = plan_diff_views(a, vl, vw);
        if (r >= 0)
                r = count_pod_template(p, a, vl, vw);
finish:
        free(cw);
        free(cl);
        cJSON_Delete(would);
        cJSON_Delete(live);
        cJSON_Delete(vw);
        cJSON_Delete(vl);
        return r;
}
