/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod templates' secret digest (template.h): which rendered Secret
 * values a pod template consumes (env secretKeyRef, envFrom, volumes), the
 * annotation with its stand-in, the keyed value put in before an apply, and
 * the digest of a workload taken over from install.sh, held back from its
 * pod template until a secret it reads changes.
 */
#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template-internal.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/strv.h"

static const DesiredObject *find_secret(const DesiredSet *s, const char *ns, const char *name) {
        for (size_t i = 0; i < s->n_objects; i++) {
                const DesiredObject *o = &s->objects[i];
                if (streq(o->kind, "Secret") && streq(o->name, name) && streq(o->namespace ? o->namespace : "", ns))
                        return o;
        }
        return NULL;
}

/* Adds "secret/key=value" for key of secret name (every key when key is NULL).
 * A Secret we do not render (the platform's own) contributes nothing. */
static int add_secret_values(Strv *l, const DesiredSet *s, const char *ns, const char *name, const char *key) {
        const DesiredObject *sec = find_secret(s, ns, name);
        const cJSON *data;
        char *line;

        if (!sec)
                return 0;
        data = cJSON_GetObjectItemCaseSensitive(sec->body, "data");
        for (const cJSON *d = data ? data->child : NULL; d; d = d->next) {
                if (key && !streq(d->string, key))
                        continue;
                if (asprintf(&line, "%s/%s=%s", name, d->string, cJSON_IsString(d) ? d->valuestring : "") < 0)
                        return -ENOMEM;
                if (strv_push(l, line) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int collect_container_refs(Strv *l, const DesiredSet *s, const char *ns, const cJSON *containers) {
        const cJSON *c, *e;
        int r;

        cJSON_ArrayForEach(c, containers) {
                cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "env")) {
                        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(
                                cJSON_GetObjectItemCaseSensitive(e, "valueFrom"), "secretKeyRef");
                        const char *name = json_string(ref, "name"), *key = json_string(ref, "key");
                        if (name && key && (r = add_secret_values(l, s, ns, name, key)) < 0)
                                return r;
                }
                cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "envFrom")) {
                        const char *name = json_string(cJSON_GetObjectItemCaseSensitive(e, "secretRef"), "name");
                        if (name && (r = add_secret_values(l, s, ns, name, NULL)) < 0)
                                return r;
                }
        }
        return 0;
}

static cJSON *pod_template(const DesiredObject *o) {
        return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o->body, "spec"), "template");
}

cJSON *template_secret_digest_annotation(cJSON *obj) {
        cJSON *tmpl, *meta;

        assert(obj);

        tmpl = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "spec"), "template");
        meta = cJSON_GetObjectItemCaseSensitive(tmpl, "metadata");
        return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(meta, "annotations"),
                                                SECRET_DIGEST_ANNOTATION);
}

/* The "secret/key=value" lines of what the pod consumes, sorted, distinct. */
static int digest_input(const DesiredObject *o, const DesiredSet *s, char **ret) {
        const cJSON *pod = cJSON_GetObjectItemCaseSensitive(pod_template(o), "spec"), *v;
        const char *ns = o->namespace ? o->namespace : "";
        _cleanup_(strv_clear) Strv l = { 0 }; /* zeroed: the lines hold secrets */
        StrBuf b = { .wipe = true };
        int r;

        *ret = NULL;
        if (!pod)
                return 0;
        if ((r = collect_container_refs(&l, s, ns, cJSON_GetObjectItemCaseSensitive(pod, "containers"))) < 0 ||
            (r = collect_container_refs(&l, s, ns, cJSON_GetObjectItemCaseSensitive(pod, "initContainers"))) < 0)
                return r;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(pod, "volumes")) {
                const char *name = json_string(cJSON_GetObjectItemCaseSensitive(v, "secret"), "secretName");
                if (name && (r = add_secret_values(&l, s, ns, name, NULL)) < 0)
                        return r;
        }
        if (l.n == 0)
                return 0;
        strv_sort(&l);
        for (size_t i = 0; i < l.n; i++) {
                if (i > 0 && streq(l.items[i], l.items[i - 1]))
                        continue;
                strbuf_puts(&b, l.items[i]);
                strbuf_putc(&b, '\n');
        }
        if (b.oom) {
                strbuf_free(&b);
                return -ENOMEM;
        }
        *ret = b.s;
        return 0;
}

int template_digest_annotate(DesiredObject *o, const DesiredSet *s) {
        cJSON *tmpl, *meta, *ann;
        int r;

        assert(o);
        assert(s);

        tmpl = pod_template(o);
        r = digest_input(o, s, &o->secret_digest_input);
        if (r < 0 || !o->secret_digest_input)
                return r;
        meta = cJSON_GetObjectItemCaseSensitive(tmpl, "metadata");
        if (!meta && !(meta = cJSON_AddObjectToObject(tmpl, "metadata")))
                return -ENOMEM;
        ann = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
        if (!ann && !(ann = cJSON_AddObjectToObject(meta, "annotations")))
                return -ENOMEM;
        cJSON_DeleteItemFromObjectCaseSensitive(ann, SECRET_DIGEST_ANNOTATION);
        return cJSON_AddStringToObject(ann, SECRET_DIGEST_ANNOTATION, SECRET_DIGEST_PENDING) ? 0 : -ENOMEM;
}

/* ---- held back from the pod template (an adopted workload) ------------------- */

static const char *adopted_value(const cJSON *obj) {
        return json_string(JSON_GET(obj, "metadata", "annotations"), SECRET_DIGEST_ADOPTED_ANNOTATION);
}

static const char *template_value(const cJSON *obj) {
        const cJSON *ann = template_secret_digest_annotation((cJSON *) obj); /* only read */

        return cJSON_IsString(ann) ? ann->valuestring : NULL;
}

const char *template_secret_digest_value(const cJSON *obj) {
        const char *v;

        assert(obj);

        v = template_value(obj);
        return v ? v : adopted_value(obj);
}

bool template_secret_digest_held(const cJSON *obj, const char *recorded, const cJSON *live, bool live_read) {
        const char *value;

        assert(obj);

        value = template_value(obj);
        /* (The stand-in SECRET_DIGEST_PENDING, for `plan --live` before the
         * key exists, equals no recorded value.) */
        if (!value)
                return false;
        if (live_read) {
                /* a new object, or one whose pods the agent rolled before: as today */
                if (!live || template_value(live))
                        return false;
                recorded = adopted_value(live);
                return !recorded || streq(recorded, value);
        }
        return recorded && !streq(value, SECRET_DIGEST_PENDING) && streq(recorded, value);
}

int template_secret_digest_hold(const cJSON *obj, cJSON **ret) {
        _cleanup_(cJSON_Deletep) cJSON *copy = NULL;
        cJSON *spec, *tmpl_md, *tmpl_ann, *md, *ann, *value;

        assert(obj);
        assert(ret);

        copy = cJSON_Duplicate(obj, true);
        if (!copy)
                return -ENOMEM;
        spec = cJSON_GetObjectItemCaseSensitive(copy, "spec");
        tmpl_md = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(spec, "template"), "metadata");
        tmpl_ann = cJSON_GetObjectItemCaseSensitive(tmpl_md, "annotations");
        md = cJSON_GetObjectItemCaseSensitive(copy, "metadata");
        value = cJSON_DetachItemFromObjectCaseSensitive(tmpl_ann, SECRET_DIGEST_ANNOTATION);
        if (!cJSON_IsString(value) || !cJSON_IsObject(md)) {
                cJSON_Delete(value);
                return -EINVAL;
        }
        /* An empty map would still be applied, and owned: none at all. */
        if (!tmpl_ann->child)
                cJSON_DeleteItemFromObjectCaseSensitive(tmpl_md, "annotations");
        ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");
        if (!ann)
                ann = cJSON_AddObjectToObject(md, "annotations");
        if (!ann || !cJSON_AddItemToObject(ann, SECRET_DIGEST_ADOPTED_ANNOTATION, value)) {
                cJSON_Delete(value);
                return -ENOMEM;
        }
        *ret = TAKE_PTR(copy);
        return 0;
}

int template_seal_secret_digests(DesiredSet *s, const void *key, size_t key_len) {
        assert(s);
        assert(key);

        for (size_t i = 0; i < s->n_objects; i++) {
                DesiredObject *o = &s->objects[i];
                cJSON *ann = o->secret_digest_input ? template_secret_digest_annotation(o->body) : NULL;
                unsigned char md[EVP_MAX_MD_SIZE];
                unsigned n = 0;
                char hex[65];

                if (!ann)
                        continue;
                if (!HMAC(EVP_sha256(), key, (int) key_len, (const unsigned char *) o->secret_digest_input,
                          strlen(o->secret_digest_input), md, &n) || n != 32)
                        return -EIO;
                hex_encode(md, 32, hex);
                explicit_bzero(md, sizeof md);
                if (!cJSON_SetValuestring(ann, hex))
                        return -ENOMEM;
        }
        return 0;
}

bool template_needs_secret_digest_key(const DesiredObject *o) {
        assert(o);

        return o->secret_digest_input != NULL;
}
