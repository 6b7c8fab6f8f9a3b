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
 * after a 409) and kept in the PassCache for the daemon's run; a SIGHUP
 * (pass_cache_forget) forgets it, since the kubeconfig may now name another
 * cluster.
 */
#include <assert.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pass-internal.h"
#include "util/base64.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/log.h"
#include "util/redact.h"

#define KEY_DATA "key"
#define KEY_HEX_LEN 64

typedef void (*DigestKeyDone)(int r, const KubeError *err, void *userdata);

struct DigestKeyOp {
        PassCache *cache;
        KubeClient *kube;
        char *ns;
        char *path; /* the Secret's */
        bool create;
        unsigned reads;
        KubeOp *op;
        char fresh[KEY_HEX_LEN + 1]; /* the key we try to create, hex */
        DigestKeyDone done;
        void *userdata;
};

static void digest_key_op_cancel(DigestKeyOp *op) {
        if (!op)
                return;
        kube_op_cancel(op->op);
        explicit_bzero(op->fresh, sizeof op->fresh);
        free(op->ns);
        free(op->path);
        free(op);
}

static bool cache_has_key(const PassCache *cache, const Config *c) {
        return cache->digest_key_ns && streq(cache->digest_key_ns, config_get(c, "NAMESPACE"));
}

static int keep_key(PassCache *cache, const char *ns, const char *key) {
        char *copy = strdup(ns);
        int r;

        if (!copy)
                return -ENOMEM;
        r = redact_pin_secret(key); /* a server's text must not show it either */
        if (r < 0) {
                free(copy);
                return r;
        }
        explicit_bzero(cache->digest_key, sizeof cache->digest_key);
        free(cache->digest_key_ns);
        snprintf(cache->digest_key, sizeof cache->digest_key, "%s", key);
        cache->digest_key_ns = copy;
        return 0;
}

int pass_seal_digests(const PassCache *cache, const Config *c, DesiredSet *d) {
        assert(cache);
        assert(c);
        assert(d);

        if (!cache_has_key(cache, c))
                return -ENOKEY;
        return template_seal_secret_digests(d, cache->digest_key, strlen(cache->digest_key));
}

static bool is_key(const unsigned char *s, size_t n) {
        if (n != KEY_HEX_LEN)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("0123456789abcdef", s[i]) || !s[i])
                        return false;
        return true;
}

static void finish(DigestKeyOp *op, int r, const KubeError *err) {
        DigestKeyDone done = op->done;
        void *userdata = op->userdata;

        op->op = NULL;
        digest_key_op_cancel(op);
        done(r, err, userdata);
}

/* The key from the Secret read back; -EBADMSG when it is not 64 hex digits. */
static int take_key(DigestKeyOp *op, const cJSON *secret, KubeError *err) {
        const char *data = json_string(cJSON_GetObjectItemCaseSensitive(secret, "data"), KEY_DATA);
        char key[KEY_HEX_LEN + 1] = "";
        unsigned char *raw = NULL;
        size_t size = 0;
        int r;

        r = data ? base64_decode(data, &raw, &size) : -EINVAL;
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && is_key(raw, size))
                memcpy(key, raw, KEY_HEX_LEN);
        if (raw)
                explicit_bzero(raw, size);
        free(raw);
        if (!key[0])
                return kube_error_setf(err, -EBADMSG, "Secret '%s' in '%s' has no \"" KEY_DATA "\" of 64 hex digits: "
                                       "delete it and nap-agent makes a new key (the pods that consume secrets then "
                                       "roll once)", SECRET_DIGEST_KEY_SECRET, op->ns);
        r = keep_key(op->cache, op->ns, key);
        explicit_bzero(key, sizeof key);
        return r;
}

static int start_read(DigestKeyOp *op);

static void on_created(int r, cJSON *obj, const KubeError *err, void *userdata) {
        DigestKeyOp *op = userdata;

        op->op = NULL;
        json_delete_wiped(obj);
        if (r == -EEXIST && op->reads < 2) {
                /* Another writer created it between our read and our create. */
                r = start_read(op);
                if (r >= 0)
                        return;
                err = NULL;
        } else if (r >= 0)
                r = keep_key(op->cache, op->ns, op->fresh);
        finish(op, r, err);
}

/* The Secret, with the key in it: a new object (wiped when deleted). */
static cJSON *key_secret(const char *ns, const char *key) {
        _cleanup_(json_delete_wipedp) cJSON *s = cJSON_CreateObject();
        _cleanup_free_ char *b64 = base64_encode(key, KEY_HEX_LEN);
        cJSON *md, *labels, *ann, *data;

        if (!s || !b64)
                return NULL;
        cJSON_AddStringToObject(s, "apiVersion", "v1");
        cJSON_AddStringToObject(s, "kind", "Secret");
        cJSON_AddStringToObject(s, "type", "Opaque");
        md = cJSON_AddObjectToObject(s, "metadata");
        cJSON_AddStringToObject(md, "name", SECRET_DIGEST_KEY_SECRET);
        cJSON_AddStringToObject(md, "namespace", ns);
        labels = cJSON_AddObjectToObject(md, "labels");
        cJSON_AddStringToObject(labels, MANAGED_BY_LABEL, "nap-agent");
        cJSON_AddStringToObject(labels, "app.kubernetes.io/component", "secret-digest-key");
        ann = cJSON_AddObjectToObject(md, "annotations");
        cJSON_AddStringToObject(ann, "nap-agent.neutree.ai/purpose",
                                "the key of the pod templates' " SECRET_DIGEST_ANNOTATION
                                " annotation; deleting it rolls the pods that consume secrets once");
        data = cJSON_AddObjectToObject(s, "data");
        cJSON_AddStringToObject(data, KEY_DATA, b64);
        explicit_bzero(b64, strlen(b64));
        if (!cJSON_GetObjectItemCaseSensitive(data, KEY_DATA) || !labels || !ann)
                return NULL;
        return TAKE_PTR(s);
}

/* POST, which never replaces a Secret another writer created first. */
static int start_create(DigestKeyOp *op) {
        _cleanup_(json_delete_wipedp) cJSON *secret = NULL;
        unsigned char raw[KEY_HEX_LEN / 2];
        int r;

        if (RAND_bytes(raw, sizeof raw) != 1)
                return -EIO;
        hex_encode(raw, sizeof raw, op->fresh);
        explicit_bzero(raw, sizeof raw);
        /* Known to the redaction step before it is sent: a server (an
         * admission webhook) that saw it may quote it in the answer to
         * another request of this pass, which can come back before this
         * one's. Kept if another writer's key wins: one value more. */
        r = redact_pin_secret(op->fresh);
        if (r < 0)
                return r;
        secret = key_secret(op->ns, op->fresh);
        if (!secret)
                return -ENOMEM;
        return kube_create_start(op->kube, secret, on_created, op, &op->op);
}

static void on_read(int r, cJSON *obj, const KubeError *err, void *userdata) {
        DigestKeyOp *op = userdata;
        KubeError e = { 0 };

        op->op = NULL;
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
        return kube_get_start(op->kube, op->path, on_read, op, &op->op);
}

static int digest_key_start(Manager *m, PassCache *cache, const Config *c, bool create, DigestKeyDone done,
                            void *userdata, DigestKeyOp **ret) {
        const char *ns = config_get(c, "NAMESPACE");
        KubeRef ref = { .api_version = "v1", .kind = "Secret", .namespace = ns, .name = SECRET_DIGEST_KEY_SECRET };
        DigestKeyOp *op;
        int r;

        op = calloc(1, sizeof *op);
        if (!op)
                return -ENOMEM;
        *op = (DigestKeyOp) { .cache = cache, .create = create, .done = done, .userdata = userdata };
        r = manager_kube(m, c, &op->kube);
        if (r >= 0 && !(op->ns = strdup(ns)))
                r = -ENOMEM;
        if (r >= 0)
                r = kube_path(&ref, &op->path);
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

static void sync_done(int r, const KubeError *err, void *userdata) {
        SyncKey *s = userdata;

        s->done = true;
        s->r = r;
        if (err)
                s->err = *err;
}

int pass_digest_key_read(Manager *m, PassCache *cache, const Config *c, bool create) {
        SyncKey s = { 0 };
        DigestKeyOp *op = NULL;
        int r;

        assert(m);
        assert(cache);
        assert(c);

        if (cache_has_key(cache, c))
                return 0;
        r = digest_key_start(m, cache, c, create, sync_done, &s, &op);
        while (r >= 0 && !s.done)
                r = sd_event_run(manager_event(m), UINT64_MAX);
        if (r < 0 && !s.done) {
                digest_key_op_cancel(op);
                return log_error_errno(r, "Failed to read Secret '%s': %s", SECRET_DIGEST_KEY_SECRET, STRERROR(r));
        }
        if (s.r < 0 && !(s.r == -ENOENT && !create))
                return log_error_errno(s.r, "Failed to read Secret '%s' (the key of the pod templates' secret digest): "
                                       "%s", SECRET_DIGEST_KEY_SECRET, s.err.message[0] ? s.err.message : STRERROR(s.r));
        return s.r;
}

/* ---- a pass waiting for the key ------------------------------------------------------------ */

static void on_gate(int r, const KubeError *err, void *userdata) {
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

int digest_gate_start(DigestGate *g, Pass *p, void (*resume)(void *userdata), void *userdata) {
        assert(g);
        assert(p);
        assert(resume);

        *g = (DigestGate) { .resume = resume, .userdata = userdata };
        if (cache_has_key(p->cache, p->config))
                return 0;
        return digest_key_start(p->m, p->cache, p->config, true, on_gate, g, &g->op);
}

int digest_gate_ready(DigestGate *g, Pass *p) {
        assert(g);
        assert(p);

        if (!cache_has_key(p->cache, p->config)) {
                if (g->op) {
                        g->waiting = true;
                        return 1;
                }
                return g->error < 0 ? g->error : -ENOKEY;
        }
        return pass_seal_digests(p->cache, p->config, p->desired);
}

void digest_gate_cancel(DigestGate *g) {
        assert(g);

        digest_key_op_cancel(g->op);
        g->op = NULL;
        g->waiting = false;
}
