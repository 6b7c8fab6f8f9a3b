/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes client for callers that wait: the CLI verbs (`plan
 * --live`, `restart`) and doctor run the client's sd-event loop until
 * their one request is answered. Never called from inside the loop (the
 * daemon uses the asynchronous verbs of kube.c and kube-http.c):
 * kube_client_run_until() refuses with -EDEADLK.
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

/* ---- running to completion (synchronous callers) ----------------------------- */

/* Runs the client's loop until *done becomes true. For the synchronous
 * wrappers only: refuses (-EDEADLK) when called from inside a dispatch of
 * that loop, since that would block the loop. */
static int kube_client_run_until(KubeClient *c, const bool *done) {
        int r;

        sd_event *e = kube_client_event(c);

        if (sd_event_get_state(e) == SD_EVENT_RUNNING)
                return -EDEADLK;
        while (!*done) {
                r = sd_event_run(e, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        return 0;
}

typedef struct SyncCall {
        bool done;
        int r;
        KubeResponse resp;
        KubeError err;
} SyncCall;

static void sync_done(KubeCall *call, int r, KubeResponse *resp, const KubeError *err, void *userdata) {
        SyncCall *s = userdata;

        s->done = true;
        s->r = r;
        if (resp) {
                s->resp = *resp;
                *resp = (KubeResponse) { 0 };
        }
        if (err)
                s->err = *err;
}

/* A call, run to completion on the client's loop (synchronous callers
 * only, see kube_client_run_until). Returns 0 with *ret filled when an
 * answer arrived, else a negative errno with err set. */
static int kube_call_sync(KubeClient *c, const char *method, const char *path, KubeBody body_type, const char *body,
                   KubeResponse *ret, KubeError *err) {
        KubeCallOptions o = { .body_type = body_type, .body = body };
        SyncCall s = { 0 };
        KubeCall *call = NULL;
        int r;

        r = kube_call_start(c, method, path, &o, sync_done, &s, &call);
        if (r < 0)
                return kube_error_setf(err, r, "%s %s: cannot start the request: %s", method, path, STRERROR(r));
        r = kube_client_run_until(c, &s.done);
        if (r < 0) {
                if (!s.done)
                        kube_call_cancel(call);
                kube_response_clear(&s.resp);
                return kube_error_setf(err, r, "%s %s: the event loop failed: %s", method, path, STRERROR(r));
        }
        if (s.r < 0) {
                if (err)
                        *err = s.err;
                return s.r;
        }
        *ret = s.resp;
        return 0;
}

/* ---- synchronous wrappers ---------------------------------------------------- */

typedef struct Sync {
        bool done;
        int r;
        KubeError err;
        cJSON *obj;
        bool existed;
        KubeApplyResult apply;
} Sync;

static void sync_object(int r, cJSON *obj, const KubeError *err, void *userdata) {
        Sync *s = userdata;

        *s = (Sync) { .done = true, .r = r, .obj = obj };
        if (err)
                s->err = *err;
}

static void sync_delete(int r, bool existed, const KubeError *err, void *userdata) {
        Sync *s = userdata;

        *s = (Sync) { .done = true, .r = r, .existed = existed };
        if (err)
                s->err = *err;
}

static void sync_apply(int r, KubeApplyResult *res, const KubeError *err, void *userdata) {
        Sync *s = userdata;

        *s = (Sync) { .done = true, .r = r };
        if (res) {
                s->apply = *res;
                *res = (KubeApplyResult) { 0 };
        }
        if (err)
                s->err = *err;
}

/* Runs the loop until the operation started into *op reports; returns its result. */
static int sync_wait(KubeClient *c, int r, KubeOp *op, Sync *s, KubeError *err) {
        if (r < 0)
                return kube_error_setf(err, r, "cannot start the request: %s", STRERROR(r));
        r = kube_client_run_until(c, &s->done);
        if (r < 0) {
                if (!s->done)
                        kube_op_cancel(op);
                json_delete_wiped(s->obj);
                kube_apply_result_clear(&s->apply);
                return kube_error_setf(err, r, "the event loop failed: %s", STRERROR(r));
        }
        if (s->r < 0 && err)
                *err = s->err;
        return s->r;
}

int kube_get_path(KubeClient *c, const char *path, cJSON **ret, KubeError *err) {
        Sync s = { 0 };
        KubeOp *op = NULL;
        int r;

        assert(c);
        assert(path);
        assert(ret);

        r = kube_get_start(c, path, sync_object, &s, &op);
        r = sync_wait(c, r, op, &s, err);
        if (r < 0)
                return r;
        *ret = s.obj;
        return 0;
}

int kube_get(KubeClient *c, const KubeRef *ref, cJSON **ret, KubeError *err) {
        _cleanup_free_ char *path = NULL;
        int r;

        assert(c);
        assert(ref);
        assert(ret);

        r = kube_ref_path(ref, &path, err);
        if (r < 0)
                return r;
        return kube_get_path(c, path, ret, err);
}

int kube_delete(KubeClient *c, const KubeRef *ref, bool *ret_existed, KubeError *err) {
        Sync s = { 0 };
        KubeOp *op = NULL;
        int r;

        assert(c);
        assert(ref);

        r = kube_delete_start(c, ref, NULL, sync_delete, &s, &op);
        if (r == -EOPNOTSUPP || r == -EINVAL) {
                _cleanup_free_ char *path = NULL;
                return kube_ref_path(ref, &path, err);
        }
        r = sync_wait(c, r, op, &s, err);
        if (r < 0)
                return r;
        if (ret_existed)
                *ret_existed = s.existed;
        return 0;
}

int kube_apply(KubeClient *c, const cJSON *obj, const char *last_resource_version, unsigned flags,
               KubeApplyResult *ret, KubeError *err) {
        Sync s = { 0 };
        KubeOp *op = NULL;
        KubeRef ref;
        int r;

        assert(c);
        assert(obj);
        assert(ret);

        if (kube_ref_from_object(obj, &ref) < 0)
                return kube_error_setf(err, -EINVAL, "object without apiVersion, kind or metadata.name");
        r = kube_apply_start(c, obj, last_resource_version, flags, sync_apply, &s, &op);
        if (r == -EOPNOTSUPP || r == -EINVAL) {
                _cleanup_free_ char *path = NULL;
                return kube_ref_path(&ref, &path, err);
        }
        r = sync_wait(c, r, op, &s, err);
        if (r < 0)
                return r;
        *ret = s.apply;
        return 0;
}

int kube_create_path(KubeClient *c, const char *path, const cJSON *body, cJSON **ret, KubeError *err) {
        _cleanup_free_ char *text = NULL;
        KubeResponse resp = { 0 };
        int r;

        assert(c);
        assert(path);
        assert(body);
        assert(ret);

        text = cJSON_PrintUnformatted(body);
        if (!text)
                return -ENOMEM;
        r = kube_call_sync(c, "POST", path, KUBE_BODY_JSON, text, &resp, err);
        if (r < 0)
                return r;
        if (resp.status != 200 && resp.status != 201)
                r = kube_http_failure(&resp, err);
        else if (!cJSON_IsObject(resp.json))
                r = kube_error_setf(err, -EBADMSG, "POST %s: the answer is not a JSON object", path);
        else
                *ret = TAKE_PTR(resp.json);
        kube_response_clear(&resp);
        return r;
}

int kube_patch(KubeClient *c, const KubeRef *ref, const char *field_manager, const cJSON *patch, cJSON **ret,
               KubeError *err) {
        _cleanup_free_ char *path = NULL, *query = NULL, *text = NULL;
        KubeResponse resp = { 0 };
        int r;

        assert(c);
        assert(ref);
        assert(field_manager);
        assert(patch);

        if (strempty(field_manager) || strspn(field_manager, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
                                               strlen(field_manager))
                return kube_error_setf(err, -EINVAL, "invalid field manager name");
        r = kube_ref_path(ref, &path, err);
        if (r < 0)
                return r;
        text = cJSON_PrintUnformatted(patch);
        if (!text || asprintf(&query, "%s?fieldManager=%s", path, field_manager) < 0)
                return kube_error_setf(err, -ENOMEM, "out of memory");
        r = kube_call_sync(c, "PATCH", query, KUBE_BODY_MERGE, text, &resp, err);
        if (r < 0)
                return r;
        if (resp.status != 200)
                r = kube_http_failure(&resp, err);
        else if (!cJSON_IsObject(resp.json))
                r = kube_error_setf(err, -EBADMSG, "PATCH %s: the answer is not a JSON object", path);
        else if (ret)
                *ret = TAKE_PTR(resp.json);
        kube_response_clear(&resp);
        return r;
}
