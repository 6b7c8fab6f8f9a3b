/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verbs of the Kubernetes client (see kube.h): get, create, delete and
 * server-side apply (with adoption, resync and dry run), each a small state
 * machine over the transport's asynchronous calls (kube-http.c); their
 * synchronous wrappers are in kube-sync.c. kube-path.c knows where objects live, kube-adopt.c
 * builds the adoption patch, kube-error.c maps failures.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube-internal.h"
#include "kube.h"
#include "util/json.h"
#include "util/log.h"

#define FIELD_MANAGER KUBE_FIELD_MANAGER

typedef enum OpKind {
        OP_GET,
        OP_CREATE,
        OP_DELETE,
        OP_APPLY,
} OpKind;

typedef enum ApplyStep {
        APPLY_READ,          /* GET the live object */
        APPLY_ADOPT,         /* merge PATCH of managedFields */
        APPLY_WRITE,         /* the apply PATCH itself */
        APPLY_ENTRIES_READ,  /* kube_add_entries_start: GET the live object */
        APPLY_ENTRIES_WRITE, /* ... merge PATCH of the list, at the resourceVersion read */
} ApplyStep;

struct KubeOp {
        KubeClient *c;
        KubeCall *call; /* the request in flight, or NULL */
        OpKind kind;
        void *userdata;
        KubeObjectDone object_done;
        KubeDeleteDone delete_done;
        KubeApplyDone apply_done;
        KubeApplyChoose choose;
        char *path;
        /* apply */
        ApplyStep step;
        unsigned flags;
        char *body;
        char *api_version;
        char *last_rv;
        cJSON *desired; /* what body says */
        cJSON *before;
        bool adopted;   /* install.sh's fields taken over before the first apply (ADOPT) */
        bool reclaimed; /* ... again, it having re-run since (RECLAIM) */
        bool taken;     /* a takeover was tried: at most one per apply */
        unsigned reads;
        char *list; /* kube_add_entries_start: the list's member name */
};

static KubeOp *op_free(KubeOp *op) {
        if (!op)
                return NULL;
        kube_call_cancel(op->call);
        free(op->path);
        if (op->body)
                explicit_bzero(op->body, strlen(op->body));
        free(op->body);
        free(op->api_version);
        free(op->last_rv);
        free(op->list);
        json_delete_wiped(op->desired);
        json_delete_wiped(op->before);
        free(op);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(KubeOp *, op_free);

void kube_op_cancel(KubeOp *op) {
        op_free(op);
}

static int op_new(KubeClient *c, OpKind kind, const char *path, void *userdata, KubeOp **ret) {
        KubeOp *op = calloc(1, sizeof *op);

        if (!op)
                return -ENOMEM;
        *op = (KubeOp) { .c = c, .kind = kind, .userdata = userdata, .path = strdup(path) };
        if (!op->path) {
                free(op);
                return -ENOMEM;
        }
        *ret = op;
        return 0;
}

static void on_call(KubeCall *call, int r, KubeResponse *resp, const KubeError *err, void *userdata);

static int op_request(KubeOp *op, const char *method, const char *path, KubeBody body_type, const char *body) {
        KubeCallOptions o = { .body_type = body_type, .body = body };

        return kube_call_start(op->c, method, path, &o, on_call, op, &op->call);
}

/* The op's first request went out (r >= 0): the caller gets the op. */
static int op_started(int r, KubeOp **op, KubeOp **ret) {
        if (r < 0)
                return r;
        if (ret)
                *ret = *op;
        *op = NULL;
        return 0;
}

/* ---- get -------------------------------------------------------------------- */

/* The object a GET (200) or a create (201, or 200) answered, or why not. */
static void object_finish(KubeOp *op, int r, KubeResponse *resp, const KubeError *err) {
        bool create = op->kind == OP_CREATE;
        KubeError e = { 0 };

        if (r >= 0 && resp->status != 200 && !(create && resp->status == 201)) {
                r = kube_http_failure(resp, &e); /* a create's 409: -EEXIST */
                err = &e;
        } else if (r >= 0 && !cJSON_IsObject(resp->json)) {
                r = kube_error_setf(&e, -EBADMSG, "%s %s: the answer is not a JSON object", create ? "POST" : "GET",
                                    op->path);
                err = &e;
        }
        if (r < 0)
                op->object_done(r, NULL, err, op->userdata);
        else
                op->object_done(0, TAKE_PTR(resp->json), NULL, op->userdata);
}

int kube_get_start(KubeClient *c, const char *path, KubeObjectDone done, void *userdata, KubeOp **ret) {
        _cleanup_(op_freep) KubeOp *op = NULL;
        int r;

        assert(c);
        assert(path);
        assert(done);

        r = op_new(c, OP_GET, path, userdata, &op);
        if (r < 0)
                return r;
        op->object_done = done;
        return op_started(op_request(op, "GET", path, KUBE_BODY_NONE, NULL), &op, ret);
}

/* ---- create ----------------------------------------------------------------- */

int kube_create_start(KubeClient *c, const cJSON *obj, KubeObjectDone done, void *userdata, KubeOp **ret) {
        _cleanup_(op_freep) KubeOp *op = NULL;
        _cleanup_free_ char *path = NULL;
        KubeRef ref;
        int r;

        assert(c);
        assert(obj);
        assert(done);

        if (kube_ref_from_object(obj, &ref) < 0)
                return -EINVAL;
        r = kube_collection_path(ref.api_version, ref.kind, ref.namespace, &path);
        if (r < 0)
                return r;
        r = op_new(c, OP_CREATE, path, userdata, &op);
        if (r < 0)
                return r;
        op->object_done = done;
        op->body = cJSON_PrintUnformatted(obj); /* wiped when the op is freed */
        if (!op->body)
                return -ENOMEM;
        return op_started(op_request(op, "POST", path, KUBE_BODY_JSON, op->body), &op, ret);
}

/* ---- delete ----------------------------------------------------------------- */

static void delete_finish(KubeOp *op, int r, KubeResponse *resp, const KubeError *err) {
        KubeError e = { 0 };

        if (r >= 0 && resp->status != 200 && resp->status != 202 && resp->status != 404) {
                r = kube_http_failure(resp, &e);
                /* With a uid precondition, a conflict is another object under the name. */
                if (resp->status == 409 && op->body)
                        r = -ESTALE;
                err = &e;
        }
        op->delete_done(r, r >= 0 && resp->status != 404, r < 0 ? err : NULL, op->userdata);
}

/* DeleteOptions with preconditions.uid. Sent as a body, the server reads
 * its options from it and not from the query, so the propagation policy is
 * in it too. */
static char *delete_options(const char *uid) {
        _cleanup_(cJSON_Deletep) cJSON *j = cJSON_CreateObject();
        cJSON *pre;

        if (!j || !cJSON_AddStringToObject(j, "apiVersion", "v1") ||
            !cJSON_AddStringToObject(j, "kind", "DeleteOptions") ||
            !cJSON_AddStringToObject(j, "propagationPolicy", "Background") ||
            !(pre = cJSON_AddObjectToObject(j, "preconditions")) || !cJSON_AddStringToObject(pre, "uid", uid))
                return NULL;
        return cJSON_PrintUnformatted(j);
}

int kube_delete_start(KubeClient *c, const KubeRef *ref, const char *uid, KubeDeleteDone done, void *userdata,
                      KubeOp **ret) {
        _cleanup_(op_freep) KubeOp *op = NULL;
        _cleanup_free_ char *path = NULL, *query = NULL;
        int r;

        assert(c);
        assert(ref);
        assert(done);

        r = kube_ref_path(ref, &path, NULL);
        if (r < 0)
                return r;
        if (asprintf(&query, "%s?propagationPolicy=Background", path) < 0)
                return -ENOMEM;
        r = op_new(c, OP_DELETE, query, userdata, &op);
        if (r < 0)
                return r;
        op->delete_done = done;
        if (uid && !(op->body = delete_options(uid)))
                return -ENOMEM;
        return op_started(op_request(op, "DELETE", query, op->body ? KUBE_BODY_JSON : KUBE_BODY_NONE, op->body), &op,
                          ret);
}

/* ---- apply ----------------------------------------------------------------- */

static const char *resource_version(const cJSON *obj) {
        return json_string(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion");
}

/* Equal apart from managedFields (whose times a dry run moves). */
static bool same_content(const cJSON *a, const cJSON *b) {
        _cleanup_(json_delete_wipedp) cJSON *x = cJSON_Duplicate(a, true);
        _cleanup_(json_delete_wipedp) cJSON *y = cJSON_Duplicate(b, true);

        if (!x || !y)
                return false;
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(x, "metadata"), "managedFields");
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(y, "metadata"), "managedFields");
        return cJSON_Compare(x, y, true);
}

void kube_apply_result_clear(KubeApplyResult *r) {
        assert(r);

        free(r->resource_version);
        json_delete_wiped(r->live);
        *r = (KubeApplyResult) { 0 };
}

static void apply_fail(KubeOp *op, int r, const KubeError *err) {
        op->apply_done(r, NULL, err, op->userdata);
}

static void apply_result(KubeOp *op, long status, cJSON *live, bool written) {
        bool dry_run = op->flags & KUBE_APPLY_DRY_RUN;
        const char *rv = resource_version(live);
        KubeApplyResult res = { .created = status == 201, .adopted = op->adopted, .reclaimed = op->reclaimed };
        KubeError err = { 0 };

        if (!rv && !(dry_run && status == 201)) { /* a dry-run create has none */
                json_delete_wiped(live);
                apply_fail(op, kube_error_setf(&err, -EBADMSG, "PATCH %s: the answer has no metadata.resourceVersion",
                                               op->path), &err);
                return;
        }
        if (rv && !(res.resource_version = strdup(rv))) {
                json_delete_wiped(live);
                apply_fail(op, kube_error_setf(&err, -ENOMEM, "out of memory"), &err);
                return;
        }
        if (res.created)
                res.changed = true;
        else if (!written)
                res.changed = false;
        else if (dry_run)
                res.changed = !op->before || !same_content(op->before, live);
        else if (op->flags & (KUBE_APPLY_ADOPT | KUBE_APPLY_RESYNC | KUBE_APPLY_EXISTING))
                res.changed = op->adopted || op->reclaimed || !op->before ||
                              !streq(strna(resource_version(op->before)), strna(rv));
        else
                res.changed = !op->last_rv || !streq(op->last_rv, strna(rv));
        res.live = live;
        op->apply_done(0, &res, NULL, op->userdata);
        kube_apply_result_clear(&res);
}

static int apply_write(KubeOp *op) {
        _cleanup_free_ char *query = NULL;

        if (asprintf(&query, "%s?fieldManager=" FIELD_MANAGER "&force=true%s", op->path,
                     op->flags & KUBE_APPLY_DRY_RUN ? "&dryRun=All" : "") < 0)
                return -ENOMEM;
        op->step = APPLY_WRITE;
        return op_request(op, "PATCH", query, KUBE_BODY_APPLY, op->body);
}

static int apply_read(KubeOp *op) {
        op->step = APPLY_READ;
        op->reads++;
        return op_request(op, "GET", op->path, KUBE_BODY_NONE, NULL);
}

/* The caller's object for what was read (KubeApplyChoose), in place of the one given. */
static int apply_choose(KubeOp *op) {
        _cleanup_(json_delete_wipedp) cJSON *obj = NULL;
        char *body;
        int r;

        if (!op->choose)
                return 0;
        r = op->choose(op->before, &obj, op->userdata);
        if (r < 0 || !obj)
                return r;
        body = cJSON_PrintUnformatted(obj);
        if (!body)
                return -ENOMEM;
        explicit_bzero(op->body, strlen(op->body));
        free(op->body);
        op->body = body;
        json_delete_wiped(op->desired);
        op->desired = TAKE_PTR(obj);
        return 0;
}

/* Whether install.sh's managers own a field of obj that the apply would leave behind. */
static int reclaim_needed(const KubeOp *op, const cJSON *obj) {
        if (!(op->flags & KUBE_APPLY_RECLAIM) || (op->flags & KUBE_APPLY_DRY_RUN) || !obj)
                return 0;
        return kube_adopt_leftovers((cJSON *) obj, op->desired, op->flags, false); /* only read */
}

/* Hands install.sh's fields of op->before to nap-agent (a merge PATCH of
 * managedFields), then applies; straight to the apply when it owns none. */
static int apply_take_over(KubeOp *op) {
        _cleanup_(json_delete_wipedp) cJSON *patch = NULL;
        _cleanup_free_ char *query = NULL, *body = NULL;
        int r;

        op->taken = true;
        r = kube_adopt_patch(op->before, op->api_version, op->flags, &patch);
        if (r < 0)
                return r;
        if (!patch)
                return apply_write(op);
        if (op->flags & KUBE_APPLY_DRY_RUN) {
                op->adopted = true; /* reported, not sent */
                return apply_write(op);
        }
        body = cJSON_PrintUnformatted(patch);
        if (!body || asprintf(&query, "%s?fieldManager=" FIELD_MANAGER, op->path) < 0)
                return -ENOMEM;
        op->step = APPLY_ADOPT;
        return op_request(op, "PATCH", query, KUBE_BODY_MERGE, body);
}

/* ---- list entries (see kube_add_entries_start) ------------------------------- */

static int entries_read(KubeOp *op) {
        op->step = APPLY_ENTRIES_READ;
        op->reads++;
        return op_request(op, "GET", op->path, KUBE_BODY_NONE, NULL);
}

/* The live list plus the missing entries, as a merge patch that holds the
 * resourceVersion read: written only if nobody changed the object since
 * (409 otherwise, and it is read again). */
static int entries_after_read(KubeOp *op) {
        const cJSON *have = cJSON_GetObjectItemCaseSensitive(op->before, op->list);
        _cleanup_(cJSON_Deletep) cJSON *missing = NULL, *patch = NULL;
        _cleanup_free_ char *query = NULL;
        cJSON *list, *md, *e;

        missing = json_missing_by_name(cJSON_GetObjectItemCaseSensitive(op->desired, op->list), have);
        if (!missing)
                return -ENOMEM;
        if (cJSON_GetArraySize(missing) == 0) {
                apply_result(op, 200, TAKE_PTR(op->before), false);
                return 1; /* every entry is there already */
        }
        patch = cJSON_CreateObject();
        list = cJSON_IsArray(have) ? cJSON_Duplicate(have, true) : cJSON_CreateArray();
        if (!patch || !list || !cJSON_AddItemToObject(patch, op->list, list)) {
                cJSON_Delete(list); /* not in patch */
                return -ENOMEM;
        }
        md = cJSON_AddObjectToObject(patch, "metadata");
        if (!md || !cJSON_AddStringToObject(md, "resourceVersion", strna(resource_version(op->before))))
                return -ENOMEM;
        while ((e = cJSON_DetachItemFromArray(missing, 0)))
                cJSON_AddItemToArray(list, e);
        free(op->body);
        op->body = cJSON_PrintUnformatted(patch);
        if (!op->body || asprintf(&query, "%s?fieldManager=" FIELD_MANAGER, op->path) < 0)
                return -ENOMEM;
        op->step = APPLY_ENTRIES_WRITE;
        return op_request(op, "PATCH", query, KUBE_BODY_MERGE, op->body);
}

static int entries_step(KubeOp *op, KubeResponse *resp, KubeError *err) {
        if (op->step == APPLY_ENTRIES_READ) {
                if (resp->status != 200)
                        return kube_http_failure(resp, err); /* a 404 is -ENOENT */
                if (!cJSON_IsObject(resp->json))
                        return kube_error_setf(err, -EBADMSG, "GET %s: the answer is not a JSON object", op->path);
                json_delete_wiped(op->before);
                op->before = TAKE_PTR(resp->json);
                return entries_after_read(op);
        }
        if (resp->status == 409 && op->reads < 3)
                return entries_read(op); /* changed since we read it: read again */
        if (resp->status == 409)
                return kube_error_setf(err, -EEXIST, "%s keeps changing while entries are added to its %s",
                                       op->path, op->list);
        if (resp->status != 200 || !cJSON_IsObject(resp->json))
                return kube_http_failure(resp, err);
        apply_result(op, 200, TAKE_PTR(resp->json), true);
        return 1;
}

int kube_add_entries_start(KubeClient *c, const cJSON *obj, const char *list, KubeApplyDone done, void *userdata,
                           KubeOp **ret) {
        _cleanup_(op_freep) KubeOp *op = NULL;
        _cleanup_free_ char *path = NULL;
        KubeRef ref;
        int r;

        assert(c);
        assert(obj);
        assert(list);
        assert(done);

        if (kube_ref_from_object(obj, &ref) < 0 || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(obj, list)))
                return -EINVAL;
        r = kube_ref_path(&ref, &path, NULL);
        if (r < 0)
                return r;
        r = op_new(c, OP_APPLY, path, userdata, &op);
        if (r < 0)
                return r;
        op->apply_done = done;
        op->flags = KUBE_APPLY_EXISTING; /* changed: the resourceVersion moved */
        op->list = strdup(list);
        op->desired = cJSON_Duplicate(obj, true);
        if (!op->list || !op->desired)
                return -ENOMEM;
        return op_started(entries_read(op), &op, ret);
}

/* After the read: take fields over (adoption), stop (a resync that found
 * nothing to repair), or write. */
static int apply_after_read(KubeOp *op) {
        int r, leftover;

        r = apply_choose(op);
        if (r < 0)
                return r;
        leftover = reclaim_needed(op, op->before);
        if (leftover < 0)
                return leftover;
        /* Nothing to write when every field of ours is live as desired, none
         * of ours is live that is no longer desired, and install.sh left
         * none behind. */
        if ((op->flags & KUBE_APPLY_RESYNC) && op->before && json_covers(op->before, op->desired) &&
            !kube_owned_beyond(op->before, op->desired) && leftover == 0) {
                apply_result(op, 200, TAKE_PTR(op->before), false);
                return 1; /* done */
        }
        if (!op->before || (!(op->flags & KUBE_APPLY_ADOPT) && leftover == 0))
                return apply_write(op);
        return apply_take_over(op);
}

/* The apply's answer: the result, or, when install.sh's managers still
 * hold a field obj no longer sets (it re-ran since), once more after
 * taking them over. */
static int apply_written(KubeOp *op, KubeResponse *resp) {
        int leftover = op->taken ? 0 : reclaim_needed(op, resp->json);

        if (leftover < 0)
                return leftover;
        if (leftover == 0) {
                apply_result(op, resp->status, TAKE_PTR(resp->json), true);
                return 1;
        }
        log_debug("kube: %s: install.sh's managers keep %d field(s) the apply drops: taking them over", op->path,
                  leftover);
        json_delete_wiped(op->before);
        op->before = TAKE_PTR(resp->json);
        return apply_take_over(op);
}

/* One answer of the apply's requests: the next step, or the result. */
static int apply_step(KubeOp *op, KubeResponse *resp, KubeError *err) {
        switch (op->step) {
        case APPLY_ENTRIES_READ:
        case APPLY_ENTRIES_WRITE:
                return entries_step(op, resp, err);
        case APPLY_READ:
                if (resp->status != 200 && (resp->status != 404 || (op->flags & KUBE_APPLY_EXISTING)))
                        return kube_http_failure(resp, err); /* a 404 is -ENOENT */
                if (resp->status == 200 && !cJSON_IsObject(resp->json))
                        return kube_error_setf(err, -EBADMSG, "GET %s: the answer is not a JSON object", op->path);
                json_delete_wiped(op->before);
                op->before = resp->status == 200 ? TAKE_PTR(resp->json) : NULL;
                return apply_after_read(op);
        case APPLY_ADOPT:
                if (resp->status == 409 && op->reads < 3)
                        return apply_read(op); /* changed since we read it: read again */
                if (resp->status == 409)
                        return kube_error_setf(err, -EEXIST, "%s keeps changing while its fields are taken over",
                                               op->path);
                if (resp->status != 200 || !cJSON_IsObject(resp->json))
                        return kube_http_failure(resp, err);
                json_delete_wiped(op->before);
                op->before = TAKE_PTR(resp->json);
                if (op->flags & KUBE_APPLY_ADOPT)
                        op->adopted = true;
                else
                        op->reclaimed = true;
                log_debug("kube: %s: field ownership taken over from install.sh's kubectl", op->path);
                return apply_write(op);
        case APPLY_WRITE:
                if (resp->status != 200 && resp->status != 201)
                        return kube_http_failure(resp, err);
                if (!cJSON_IsObject(resp->json))
                        return kube_error_setf(err, -EBADMSG, "PATCH %s: the answer is not a JSON object", op->path);
                return apply_written(op, resp);
        }
        return -EINVAL;
}

int kube_apply_choose_start(KubeClient *c, const cJSON *obj, const char *last_resource_version, unsigned flags,
                            KubeApplyChoose choose, KubeApplyDone done, void *userdata, KubeOp **ret) {
        _cleanup_(op_freep) KubeOp *op = NULL;
        _cleanup_free_ char *path = NULL;
        KubeRef ref;
        int r;

        assert(c);
        assert(obj);
        assert(done);

        if (kube_ref_from_object(obj, &ref) < 0)
                return -EINVAL;
        r = kube_ref_path(&ref, &path, NULL);
        if (r < 0)
                return r;
        r = op_new(c, OP_APPLY, path, userdata, &op);
        if (r < 0)
                return r;
        op->apply_done = done;
        op->choose = choose;
        op->flags = flags;
        op->body = cJSON_PrintUnformatted(obj);
        op->api_version = strdup(ref.api_version);
        op->desired = cJSON_Duplicate(obj, true);
        if (!op->body || !op->api_version || !op->desired ||
            (last_resource_version && !(op->last_rv = strdup(last_resource_version))))
                return -ENOMEM;
        r = flags & (KUBE_APPLY_DRY_RUN | KUBE_APPLY_ADOPT | KUBE_APPLY_RESYNC | KUBE_APPLY_EXISTING)
                    ? apply_read(op)
                    : apply_write(op);
        return op_started(r, &op, ret);
}

int kube_apply_start(KubeClient *c, const cJSON *obj, const char *last_resource_version, unsigned flags,
                     KubeApplyDone done, void *userdata, KubeOp **ret) {
        assert(c);
        assert(obj);
        assert(done);

        return kube_apply_choose_start(c, obj, last_resource_version, flags, NULL, done, userdata, ret);
}

/* ---- the calls' answers ------------------------------------------------------ */

static void on_call(KubeCall *call, int r, KubeResponse *resp, const KubeError *err, void *userdata) {
        KubeOp *op = userdata;
        KubeError e = { 0 };

        op->call = NULL;
        switch (op->kind) {
        case OP_GET:
        case OP_CREATE:
                object_finish(op, r, resp, err);
                break;
        case OP_DELETE:
                delete_finish(op, r, resp, err);
                break;
        case OP_APPLY:
                if (r >= 0) {
                        r = apply_step(op, resp, &e);
                        err = &e;
                }
                if (r == 0)
                        return; /* the next request is on its way */
                if (r < 0)
                        apply_fail(op, r, err);
                break;
        }
        op_free(op);
}
