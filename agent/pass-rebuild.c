/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ledger read back from the cluster, when it was lost or could not be
 * parsed: the objects that carry the agent's label and its field manager's
 * Apply entry are the agent's again (pruned when their module goes off),
 * instead of being adopted, which would take over what operators set with
 * kubectl, or forgotten; so are the fields set on the platform's own
 * objects (nap-cp), read by name. Runs before the plan of the pass that
 * finds the ledger gone.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "pass-internal.h"
#include "util/json.h"
#include "util/log.h"

/* One list in flight, or one object. */
struct RebuildList {
        Pass *pass;
        RebuildList *next;
        const char *api_version;
        const char *kind;
        const DesiredObject *partial; /* read alone: the fields set on the platform's own object */
        KubeOp *op;
};

static const char *const rebuild_kinds[][2] = {
        { "v1", "Secret" },
        { "v1", "Service" },
        { "apps/v1", "Deployment" },
        { "apps/v1", "DaemonSet" },
};

static bool applied_by_us(const cJSON *item) {
        const cJSON *e;

        cJSON_ArrayForEach(e, JSON_GET(item, "metadata", "managedFields")) {
                const char *manager = json_string(e, "manager"), *op = json_string(e, "operation");
                if (manager && op && streq(manager, KUBE_FIELD_MANAGER) && streq(op, "Apply"))
                        return true;
        }
        return false;
}

/* The module an object read back belongs to: the desired object's, else its component label. */
static const char *rebuilt_module(const Pass *p, const char *kind, const char *name, const cJSON *item) {
        const char *component = json_string(JSON_GET(item, "metadata", "labels"), "app.kubernetes.io/component");

        for (size_t i = 0; i < p->desired->n_objects; i++) {
                const DesiredObject *o = &p->desired->objects[i];
                if (streq(o->kind, kind) && streq(o->name, name))
                        return o->partial ? PARTIAL_MODULE : module_to_string(o->module);
        }
        return component && module_from_string(component) >= 0 ? component : NULL;
}

static RebuildList *list_free(RebuildList *l) {
        for (RebuildList **i = &l->pass->rebuild.lists; *i; i = &(*i)->next)
                if (*i == l) {
                        *i = l->next;
                        break;
                }
        kube_op_cancel(l->op);
        free(l);
        return NULL;
}

static int record_item(Pass *p, const char *api_version, const char *kind, const cJSON *item, unsigned *n) {
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(item, "metadata");
        const char *name = json_string(md, "name"), *ns = json_string(md, "namespace");
        const char *module = name ? rebuilt_module(p, kind, name, item) : NULL;
        int r;

        if (!module || !applied_by_us(item) || ledger_find_object(p->ledger, kind, ns, name))
                return 0;
        /* No digest: the first apply reads it first and writes only what
         * differs (a workload taken over from install.sh keeps its secret
         * digest held back, as recorded on it: pass-objects.c). */
        r = ledger_record_object(p->ledger, api_version, kind, ns, name, module, "", json_string(md, "resourceVersion"),
                                 json_string(md, "uid"), NULL);
        if (r >= 0)
                (*n)++;
        return r;
}

static int record_listed(Pass *p, const RebuildList *l, const cJSON *answer, unsigned *n) {
        const cJSON *item;
        int r;

        if (l->partial)
                return record_item(p, l->api_version, l->kind, answer, n);
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(answer, "items"))
                if ((r = record_item(p, l->api_version, l->kind, item, n)) < 0)
                        return r;
        return 0;
}

static void on_listed(int r, cJSON *list, const KubeError *err, void *userdata) {
        RebuildList *l = userdata;
        Pass *p = l->pass;
        unsigned n = 0;

        l->op = NULL;
        if (r == -ENOENT && l->partial)
                ; /* the platform's object is not there: nothing was set on it */
        else if (r < 0)
                pass_fail(p, r, "Failed to read back what nap-agent applied (%ss): %s", l->kind,
                          err ? err->message : STRERROR(r));
        else if ((r = record_listed(p, l, list, &n)) < 0)
                pass_fail(p, r, "Out of memory");
        else if (n > 0)
                log_notice("read back %u %s(s) nap-agent had applied", n, l->kind);
        json_delete_wiped(list);
        list_free(l);
        if (!p->rebuild.lists)
                pass_rebuild_done(p);
}

static RebuildList *list_new(Pass *p, const char *api_version, const char *kind) {
        RebuildList *l = calloc(1, sizeof *l);

        if (!l)
                return NULL;
        *l = (RebuildList) { .pass = p, .api_version = api_version, .kind = kind, .next = p->rebuild.lists };
        p->rebuild.lists = l;
        return l;
}

static int list_start(Pass *p, KubeClient *k, const char *api_version, const char *kind) {
        _cleanup_free_ char *path = NULL, *query = NULL;
        RebuildList *l = list_new(p, api_version, kind);
        int r;

        if (!l)
                return -ENOMEM;
        r = kube_collection_path(api_version, kind, config_get(p->config, "NAMESPACE"), &path);
        if (r >= 0 && asprintf(&query, "%s?labelSelector=" MANAGED_BY_LABEL "%%3Dnap-agent", path) < 0)
                r = -ENOMEM;
        if (r >= 0)
                r = kube_get_start(k, query, on_listed, l, &l->op);
        if (r < 0)
                list_free(l);
        return r;
}

/* A partial object carries no label of the agent's: it is read by name. */
static int partial_start(Pass *p, KubeClient *k, const DesiredObject *o) {
        _cleanup_free_ char *path = NULL;
        KubeRef ref = { o->api_version, o->kind, o->namespace, o->name };
        RebuildList *l = list_new(p, o->api_version, o->kind);
        int r;

        if (!l)
                return -ENOMEM;
        l->partial = o;
        r = kube_path(&ref, &path);
        if (r >= 0)
                r = kube_get_start(k, path, on_listed, l, &l->op);
        if (r < 0)
                list_free(l);
        return r;
}

/* The ledger was lost or unparsable: list the objects that carry the
 * agent's label and have its Apply entry, so that they are the agent's
 * again instead of being adopted (which would take over what operators
 * set with kubectl) or forgotten (never pruned); and read the platform's
 * objects the agent sets fields on, so that they are not written again
 * when those fields are as desired. */
int pass_rebuild_start(Pass *p) {
        KubeClient *k;
        int r;

        assert(p);

        r = manager_kube(p->m, p->config, &k);
        if (r < 0)
                return r; /* logged */
        for (size_t i = 0; i < ELEMENTSOF(rebuild_kinds); i++) {
                r = list_start(p, k, rebuild_kinds[i][0], rebuild_kinds[i][1]);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < p->desired->n_objects; i++)
                if (p->desired->objects[i].partial && (r = partial_start(p, k, &p->desired->objects[i])) < 0)
                        return r;
        return 0;
}

void pass_rebuild_cancel(Pass *p) {
        assert(p);

        while (p->rebuild.lists)
                list_free(p->rebuild.lists);
}
