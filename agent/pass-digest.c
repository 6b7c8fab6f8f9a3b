/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key of the pod templates' secret-digest annotation (template.h): 32
 * random bytes, written as 64 hex digits (text, so that the redaction step
 * knows it in every form a server may echo it in), under "key" in Secret
 * nap-agent-digest-key of the namespace.
 * The first pass that needs it creates the Secret with a POST, which never
 * replaces one that exists (a 409 means another writer was first: its key
 * is read and used); every later pass, on this node or another, reads it.
 * So the annotation does not depend on the node's state directory, and
 * losing that directory rolls no pod. Whoever may read that Secret may read
 * the module Secrets too, so the annotation tells a reader of pod templates
 * (the `view` role) nothing about the secrets.
 *
 * Read on the manager's loop (GET, then POST if asked, then GET once more
 * after a 409) and kept in the manager for the daemon's run; a SIGHUP
 * (manager_reload) forgets it, since the kubeconfig may now name another
 * cluster.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube-http.h"
#include "kube-config.h"
#include "manager.h"
#include "util/json.h"
#include "util/log.h"
#include "util/redact.h"

#define KEY_DATA "key"

struct DigestKeyOp {
        Manager *m;
        KubeClient *kube;
        char *ns;
        char *path;       /* the Secret's */
        char *collection; /* where it is created */
        bool create;
        unsigned reads;
        KubeOp *get;
        KubeCall *post;
        char fresh[65]; /* the key we try to create, hex */
        DigestKeyDone done;
        void *userdata;
};

void digest_key_op_cancel(DigestKeyOp *op) {
        if (!op)
                return;
        kube_op_cancel(op->get);
        kube_call_cancel(op->post);
        explicit_bzero(op->fresh, sizeof op->fresh);
        free(op->ns);
        free(op->path);
        free(op->collection);
        free(op);
}

bool manager_has_digest_key(const Manager *m, const Config *c) {
        return m->digest_key_ns && streq(m->digest_key_ns, config_get(c, "NAMESPACE"));
}

void manager_forget_digest_key(Manager *m) {
        explicit_bzero(m->digest_key, sizeof m->digest_key);
        free(m->digest_key_ns);
        m->digest_key_ns = NULL;
}

static int keep_key(Manager *m, const char *ns, const char *key) {
        char *copy = strdup(ns);
        int r;

        if (!copy)
                return -ENOMEM;
        r = redact_pin_secret(key); /* a server's text must not show it either */
        if (r < 0) {
                free(copy);
                return r;
        }
        manager_forget_digest_key(m);
        snprintf(m->digest_key, sizeof m->digest_key, "%s", key);
        m->digest_key_ns = copy;
        return 0;
}

int manager_seal_digests(Manager *m, const Config *c, DesiredSet *d) {
        if (!manager_has_digest_key(m, c))
                return -ENOKEY;
        return template_seal_secret_digests(d, m->digest_key, strlen(m->digest_key));
}

static bool is_key(const unsigned char *s, size_t n) {
        if (n != 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("0123456789abcdef", s[i]) || !s[i])
                        return false;
        return true;
}

static void finish(DigestKeyOp *op, int r, const KubeError *err) {
        DigestKeyDone done = op->done;
        void *userdata = op->userdata;
        Manager *m = op->m;

        op->get = NULL;
        op->post = NULL;
        digest_key_op_cancel(op);
        done(m, r, err, userdata);
}

/* The key from the Secret read back; -EBADMSG when it is not 64 hex digits. */
static int take_key(DigestKeyOp *op, const cJSON *secret, KubeError *err) {
        const char *data = json_string(cJSON_GetObjectItemCaseSensitive(secret, "data"), KEY_DATA);
        char key[65] = "";
        KubeBlob b = { 0 };
        int r;

        r = data ? kube_config_base64_decode(data, &b) : -EINVAL;
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && is_key(b.data, b.size))
                memcpy(key, b.data, 64);
        if (b.data)
                explicit_bzero(b.data, b.size);
        free(b.data);
        if (!key[0])
                return kube_error_setf(err, -EBADMSG, "Secret '%s' in '%s' has no \"" KEY_DATA "\" of 64 hex digits: "
                                       "delete it and nap-agent makes a new key (the pods that consume secrets then "
                                       "roll once)", SECRET_DIGEST_KEY_SECRET, op->ns);
        r = keep_key(op->m, op->ns, key);
        explicit_bzero(key, sizeof key);
        return r;
}

static int start_read(DigestKeyOp *op);

static void on_created(KubeCall *call, int r, KubeResponse *resp, const KubeError *err, void *userdata) {
        DigestKeyOp *op = userdata;
        KubeError e = { 0 };

        op->post = NULL;
        if (r >= 0 && resp->status == 409 && op->reads < 2) {
                /* Another writer created it between our read and our create. */
                r = start_read(op);
                if (r >= 0)
                        return;
                err = NULL;
        } else if (r >= 0 && resp->status != 201 && resp->status != 200) {
                r = kube_http_failure(resp, &e);
                err = &e;
        } else if (r >= 0)
                r = keep_key(op->m, op->ns, op->fresh);
        finish(op, r, err);
}

static int start_create(DigestKeyOp *op) {
        _cleanup_free_ char *body = NULL;
        unsigned char raw[32];
        char b64[128];
        KubeCallOptions o = { .body_type = KUBE_BODY_JSON };
        int r;

        if (RAND_bytes(raw, sizeof raw) != 1)
                return -EIO;
        for (size_t i = 0; i < sizeof raw; i++)
                snprintf(op->fresh + 2 * i, 3, "%02x", raw[i]);
        explicit_bzero(raw, sizeof raw);
        EVP_EncodeBlock((unsigned char *) b64, (const unsigned char *) op->fresh, 64);
        if (asprintf(&body,
                     "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"type\":\"Opaque\",\"metadata\":{\"name\":\"%s\","
                     "\"namespace\":\"%s\",\"labels\":{\"app.kubernetes.io/managed-by\":\"nap-agent\","
                     "\"app.kubernetes.io/component\":\"secret-digest-key\"},\"annotations\":{"
                     "\"nap-agent.neutree.ai/purpose\":\"the key of the pod templates' " SECRET_DIGEST_ANNOTATION
                     " annotation; deleting it rolls the pods that consume secrets once\"}},"
                     "\"data\":{\"" KEY_DATA "\":\"%s\"}}",
                     SECRET_DIGEST_KEY_SECRET, op->ns, b64) < 0)
                body = NULL;
        explicit_bzero(b64, sizeof b64);
        if (!body)
                return -ENOMEM;
        o.body = body;
        r = kube_call_start(op->kube, "POST", op->collection, &o, on_created, op, &op->post);
        explicit_bzero(body, strlen(body));
        return r;
}

static void on_read(int r, cJSON *obj, const KubeError *err, void *userdata) {
        DigestKeyOp *op = userdata;
        KubeError e = { 0 };

        op->get = NULL;
        if (r == -ENOENT && op->create && op->reads < 2) {
                r = start_create(op);
                if (r >= 0) {
                        json_delete_wiped(obj);
                        return;
                }
                err = NULL;
        } else if (r >= 0) {
                r = take_key(op, obj, &e);
                err = &e;
        }
        json_delete_wiped(obj);
        finish(op, r, err);
}

static int start_read(DigestKeyOp *op) {
        op->reads++;
        return kube_get_start(op->kube, op->path, on_read, op, &op->get);
}

int manager_digest_key_start(Manager *m, const Config *c, bool create, DigestKeyDone done, void *userdata,
                             DigestKeyOp **ret) {
        const char *ns = config_get(c, "NAMESPACE");
        DigestKeyOp *op;
        int r;

        op = calloc(1, sizeof *op);
        if (!op)
                return -ENOMEM;
        *op = (DigestKeyOp) { .m = m, .create = create, .done = done, .userdata = userdata };
        r = manager_kube(m, c, &op->kube);
        if (r >= 0 && (!(op->ns = strdup(ns)) ||
                       asprintf(&op->collection, "/api/v1/namespaces/%s/secrets", ns) < 0 ||
                       asprintf(&op->path, "%s/%s", op->collection, SECRET_DIGEST_KEY_SECRET) < 0))
                r = -ENOMEM;
        if (r >= 0)
                r = start_read(op);
        if (r < 0) {
                digest_key_op_cancel(op);
                return r;
        }
        *ret = op;
        return 0;
}

typedef struct SyncKey {
        bool done;
        int r;
        KubeError err;
} SyncKey;

static void sync_done(Manager *m, int r, const KubeError *err, void *userdata) {
        SyncKey *s = userdata;

        s->done = true;
        s->r = r;
        if (err)
                s->err = *err;
}

int manager_digest_key(Manager *m, const Config *c, bool create) {
        SyncKey s = { 0 };
        DigestKeyOp *op = NULL;
        int r;

        if (manager_has_digest_key(m, c))
                return 0;
        r = manager_digest_key_start(m, c, create, sync_done, &s, &op);
        while (r >= 0 && !s.done)
                r = sd_event_run(m->event, UINT64_MAX);
        if (r < 0 && !s.done) {
                digest_key_op_cancel(op);
                return manager_fail(m, r, "Failed to read Secret '%s': %s", SECRET_DIGEST_KEY_SECRET, STRERROR(r));
        }
        if (s.r < 0 && !(s.r == -ENOENT && !create))
                return manager_fail(m, s.r, "Failed to read Secret '%s' (the key of the pod templates' secret digest): "
                                    "%s", SECRET_DIGEST_KEY_SECRET, s.err.message[0] ? s.err.message : STRERROR(s.r));
        return s.r;
}

/* ---- a pass waiting for the key ------------------------------------------------------------ */

static void on_gate(Manager *m, int r, const KubeError *err, void *userdata) {
        DigestGate *g = userdata;

        g->op = NULL;
        if (r < 0) {
                g->error = r;
                if (err)
                        g->err = *err;
        }
        if (!g->waiting)
                return; /* no group needs it yet: the first that does sees the outcome */
        g->waiting = false;
        g->resume(g->userdata);
}

int digest_gate_start(DigestGate *g, Manager *m, const Config *c, void (*resume)(void *userdata), void *userdata) {
        *g = (DigestGate) { .resume = resume, .userdata = userdata };
        if (manager_has_digest_key(m, c))
                return 0;
        return manager_digest_key_start(m, c, true, on_gate, g, &g->op);
}

int digest_gate_ready(DigestGate *g, Manager *m, const Config *c, DesiredSet *d) {
        if (!manager_has_digest_key(m, c)) {
                if (g->op) {
                        g->waiting = true;
                        return 1;
                }
                return g->error < 0 ? g->error : -ENOKEY;
        }
        return manager_seal_digests(m, c, d);
}

void digest_gate_cancel(DigestGate *g) {
        digest_key_op_cancel(g->op);
        g->op = NULL;
        g->waiting = false;
}
