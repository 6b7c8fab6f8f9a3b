/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"
#include "util/fs.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/redact.h"

#define LEDGER_MAX_BYTES (16 * 1024 * 1024)

void ledger_now(char *buf, size_t size) {
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void ledger_hmac(const Ledger *l, const void *data, size_t len, char ret[LEDGER_DIGEST_HEX]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        HMAC(EVP_sha256(), l->key, sizeof l->key, data, len, md, &n);
        hex_encode(md, 32, ret);
}

/* Reads the per-host key, creating it (0600) on first use. */
static int load_key(Ledger *l, bool read_only, char **ret_message) {
        _cleanup_free_ char *path = NULL, *data = NULL;
        size_t len = 0;
        int r;

        if (asprintf(&path, "%s/ledger.key", l->dir) < 0)
                return -ENOMEM;
        r = read_full_file(path, 1024, &data, &len);
        if (r >= 0 && len == sizeof l->key) {
                memcpy(l->key, data, sizeof l->key);
                explicit_bzero(data, len);
                return 0;
        }
        if (data)
                explicit_bzero(data, len);
        if ((r >= 0 || r == -EFBIG) && ret_message &&
            asprintf(ret_message, "the ledger key '%s' is %s, not %zu bytes: it is damaged; remove it and "
                     "'%s' (nap-agent makes a new key and reads what it owns back from the cluster)",
                     path, r == -EFBIG ? "too large" : len < sizeof l->key ? "too short" : "too long",
                     sizeof l->key, l->path) < 0)
                *ret_message = NULL;
        if (r >= 0 || r == -EFBIG)
                return -EBADMSG;
        if (r != -ENOENT && !read_only) {
                if (ret_message && asprintf(ret_message, "cannot read the ledger key '%s': %s", path, STRERROR(r)) < 0)
                        *ret_message = NULL;
                return r;
        }
        if (RAND_bytes(l->key, sizeof l->key) != 1)
                return -EIO;
        /* Read-only without a key: an ephemeral one; no digest can match,
         * which is right, since there is no ledger either. */
        return read_only ? 0 : write_file_atomic(path, l->key, sizeof l->key, 0600, 0);
}

static char *json_dup(const cJSON *j, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
        return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static void copy_digest(char dst[LEDGER_DIGEST_HEX], const cJSON *j) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "digest");
        snprintf(dst, LEDGER_DIGEST_HEX, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int parse_objects(Ledger *l, const cJSON *arr) {
        const cJSON *o;

        cJSON_ArrayForEach(o, arr) {
                _cleanup_free_ char *av = json_dup(o, "apiVersion"), *kind = json_dup(o, "kind"),
                                    *ns = json_dup(o, "namespace"), *name = json_dup(o, "name"),
                                    *mod = json_dup(o, "module"), *rv = json_dup(o, "resourceVersion");
                char digest[LEDGER_DIGEST_HEX];
                const cJSON *view = cJSON_GetObjectItemCaseSensitive(o, "view");
                int r;

                if (!av || !kind || !name || !mod)
                        return -EBADMSG;
                copy_digest(digest, o);
                r = ledger_record_object(l, av, kind, ns, name, mod, digest, rv,
                                         view ? cJSON_Duplicate(view, true) : NULL);
                if (r < 0)
                        return r;
                /* The entry recorded: an identity written twice replaces the
                 * first entry, which need not be the last one. */
                LedgerObject *e = ledger_find_object(l, kind, ns, name);
                free(e->applied_at);
                e->applied_at = json_dup(o, "appliedAt");
                free(e->pending);
                e->pending = json_dup(o, "pending");
                free(e->adopted_digest);
                e->adopted_digest = json_dup(o, "adoptedSecretDigest");
                if (e->pending && !streq(e->pending, "apply") && !streq(e->pending, "delete"))
                        return -EBADMSG;
        }
        return 0;
}

static int parse_clients(Ledger *l, const cJSON *arr) {
        const cJSON *o;

        cJSON_ArrayForEach(o, arr) {
                _cleanup_free_ char *id = json_dup(o, "id"), *mod = json_dup(o, "module"), *name = json_dup(o, "name"),
                                    *uri = json_dup(o, "redirectUri");
                char digest[LEDGER_DIGEST_HEX];
                int r;

                if (!id || !mod)
                        return -EBADMSG;
                copy_digest(digest, o);
                r = ledger_record_client(l, id, mod, name, uri, digest);
                if (r < 0)
                        return r;
                LedgerClient *e = ledger_find_client(l, id);
                free(e->applied_at);
                e->applied_at = json_dup(o, "appliedAt");
                e->kept = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "kept"));
        }
        return 0;
}

static int parse_ledger(Ledger *l, const char *text) {
        cJSON *j = cJSON_Parse(text);
        const cJSON *schema, *gen, *last;
        int r;

        if (!cJSON_IsObject(j)) {
                cJSON_Delete(j);
                return -EBADMSG;
        }
        schema = cJSON_GetObjectItemCaseSensitive(j, "schema");
        gen = cJSON_GetObjectItemCaseSensitive(j, "generation");
        /* Numbers are doubles in JSON: only integers up to 2^53 are exact. */
        if (!cJSON_IsNumber(schema) || !cJSON_IsNumber(gen) || gen->valuedouble < 0 ||
            gen->valuedouble > 9007199254740992.0 || gen->valuedouble != (double) (uint64_t) gen->valuedouble ||
            schema->valuedouble < 1 || schema->valuedouble > 1000) {
                cJSON_Delete(j);
                return -EBADMSG;
        }
        if (schema->valueint > LEDGER_SCHEMA) {
                cJSON_Delete(j);
                return -EPROTONOSUPPORT;
        }
        l->generation = (uint64_t) gen->valuedouble;
        r = parse_objects(l, cJSON_GetObjectItemCaseSensitive(j, "objects"));
        if (r >= 0)
                r = parse_clients(l, cJSON_GetObjectItemCaseSensitive(j, "clients"));
        last = cJSON_GetObjectItemCaseSensitive(j, "lastPass");
        l->last_time = json_dup(last, "time");
        l->last_result = json_dup(last, "result");
        l->last_message = json_dup(last, "message");
        cJSON_Delete(j);
        return r;
}

/* The string members of an entry, by their names in ledger.json: saved,
 * and freed, from one list. */
typedef struct StrField {
        const char *key;
        size_t offset;
} StrField;

static const StrField object_strs[] = {
        { "apiVersion", offsetof(LedgerObject, api_version) },
        { "kind", offsetof(LedgerObject, kind) },
        { "namespace", offsetof(LedgerObject, namespace) },
        { "name", offsetof(LedgerObject, name) },
        { "module", offsetof(LedgerObject, module) },
        { "resourceVersion", offsetof(LedgerObject, resource_version) },
        { "appliedAt", offsetof(LedgerObject, applied_at) },
        { "pending", offsetof(LedgerObject, pending) },
        { "adoptedSecretDigest", offsetof(LedgerObject, adopted_digest) },
};

static const StrField client_strs[] = {
        { "id", offsetof(LedgerClient, id) },
        { "module", offsetof(LedgerClient, module) },
        { "name", offsetof(LedgerClient, name) },
        { "redirectUri", offsetof(LedgerClient, redirect_uri) },
        { "appliedAt", offsetof(LedgerClient, applied_at) },
};

static char **str_member(const void *entry, const StrField *f) {
        return (char **) ((const char *) entry + f->offset);
}

static void strs_free(void *entry, const StrField *fields, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(*str_member(entry, &fields[i]));
}

static void object_done(LedgerObject *o) {
        strs_free(o, object_strs, ELEMENTSOF(object_strs));
        cJSON_Delete(o->view);
}

static void client_done(LedgerClient *c) {
        strs_free(c, client_strs, ELEMENTSOF(client_strs));
}

static void ledger_clear(Ledger *l) {
        for (size_t i = 0; i < l->n_objects; i++)
                object_done(&l->objects[i]);
        for (size_t i = 0; i < l->n_clients; i++)
                client_done(&l->clients[i]);
        free(l->objects);
        free(l->clients);
        free(l->last_time);
        free(l->last_result);
        free(l->last_message);
        l->objects = NULL, l->clients = NULL;
        l->n_objects = l->n_clients = 0;
        l->last_time = l->last_result = l->last_message = NULL;
        l->generation = 0;
}

int ledger_parse(Ledger *l, const char *text) {
        ledger_clear(l);
        return parse_ledger(l, text);
}

/* Moves a ledger we cannot parse out of the way, keeping it for a human;
 * never over an earlier copy (two in the same second get .1, .2...). */
static int move_aside(Ledger *l, int error, char **ret_warning) {
        char stamp[32], *aside = NULL;

        ledger_now(stamp, sizeof stamp);
        for (unsigned n = 0;; n++) {
                int r;

                free(aside);
                if ((n == 0 ? asprintf(&aside, "%s.corrupt-%s", l->path, stamp)
                            : asprintf(&aside, "%s.corrupt-%s.%u", l->path, stamp, n)) < 0)
                        return -ENOMEM;
                if (renameat2(AT_FDCWD, l->path, AT_FDCWD, aside, RENAME_NOREPLACE) >= 0)
                        break;
                r = negative_errno();
                if (r != -EEXIST || n >= 1000) {
                        free(aside);
                        return r;
                }
        }
        if (ret_warning &&
            asprintf(ret_warning, "ledger '%s' is unreadable (%s); moved it to '%s': what nap-agent owns is read "
                     "back from the cluster", l->path, STRERROR(error), aside) < 0)
                *ret_warning = NULL;
        free(aside);
        return 0;
}

static int ledger_open_full(const char *dir, bool read_only, Ledger **ret, char **ret_warning) {
        _cleanup_(ledger_freep) Ledger *l = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        if (ret_warning)
                *ret_warning = NULL;

        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->read_only = read_only;
        l->dir = strdup(dir);
        if (!l->dir || asprintf(&l->path, "%s/ledger.json", dir) < 0)
                return -ENOMEM;
        r = read_only ? 0 : mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        r = load_key(l, read_only, ret_warning);
        if (r < 0)
                return r;

        r = read_full_file(l->path, LEDGER_MAX_BYTES, &text, NULL);
        if (r == -ENOENT || (read_only && r == -EACCES)) {
                l->rebuild = r == -ENOENT;
                r = 0;
        } else if (r == -EFBIG)
                r = -EBADMSG;
        else if (r < 0) {
                /* Not a damaged ledger but a failure to read it: moving it
                 * aside would lose what the agent owns. */
                if (ret_warning && asprintf(ret_warning, "cannot read the ledger '%s': %s", l->path, STRERROR(r)) < 0)
                        *ret_warning = NULL;
                return r;
        } else {
                r = parse_ledger(l, text);
                if (r == -EPROTONOSUPPORT || r == -ENOMEM)
                        return r;
        }
        if (r < 0) {
                l->rebuild = true;
                ledger_clear(l);
                if (asprintf(&l->unreadable, "ledger '%s' is unreadable (%s)", l->path, STRERROR(r)) < 0)
                        return -ENOMEM;
                if (read_only) {
                        if (ret_warning && asprintf(ret_warning, "%s; treating it as empty (the next apply moves it "
                                                    "aside)", l->unreadable) < 0)
                                *ret_warning = NULL;
                } else {
                        int k = move_aside(l, r, ret_warning);
                        if (k < 0)
                                return k;
                }
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int ledger_open(const char *dir, Ledger **ret, char **ret_warning) {
        return ledger_open_full(dir, false, ret, ret_warning);
}

int ledger_open_read_only(const char *dir, Ledger **ret, char **ret_warning) {
        return ledger_open_full(dir, true, ret, ret_warning);
}

Ledger *ledger_free(Ledger *l) {
        if (!l)
                return NULL;
        ledger_clear(l);
        free(l->unreadable);
        explicit_bzero(l->key, sizeof l->key);
        free(l->dir);
        free(l->path);
        free(l);
        return NULL;
}

static bool eq_opt(const char *a, const char *b) {
        return (!a && !b) || (a && b && streq(a, b));
}

LedgerObject *ledger_find_object(const Ledger *l, const char *kind, const char *namespace, const char *name) {
        for (size_t i = 0; i < l->n_objects; i++) {
                LedgerObject *o = &l->objects[i];
                if (streq(o->kind, kind) && streq(o->name, name) && eq_opt(o->namespace, namespace))
                        return o;
        }
        return NULL;
}

LedgerClient *ledger_find_client(const Ledger *l, const char *id) {
        for (size_t i = 0; i < l->n_clients; i++)
                if (streq(l->clients[i].id, id))
                        return &l->clients[i];
        return NULL;
}

static int set_str(char **dst, const char *s) {
        char *c = NULL;

        if (s && !(c = strdup(s)))
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

int ledger_record_object(Ledger *l, const char *api_version, const char *kind, const char *namespace,
                         const char *name, const char *module, const char *digest, const char *resource_version,
                         cJSON *view) {
        LedgerObject *o = ledger_find_object(l, kind, namespace, name);
        char now[32];

        if (!o) {
                LedgerObject *p = realloc(l->objects, (l->n_objects + 1) * sizeof *p);
                if (!p) {
                        cJSON_Delete(view);
                        return -ENOMEM;
                }
                l->objects = p;
                o = &l->objects[l->n_objects++];
                *o = (LedgerObject) { 0 };
        }
        ledger_now(now, sizeof now);
        snprintf(o->digest, sizeof o->digest, "%s", digest);
        cJSON_Delete(o->view);
        o->view = view;
        free(o->pending);
        o->pending = NULL;
        if (set_str(&o->api_version, api_version) < 0 || set_str(&o->kind, kind) < 0 ||
            set_str(&o->namespace, namespace) < 0 || set_str(&o->name, name) < 0 || set_str(&o->module, module) < 0 ||
            set_str(&o->resource_version, resource_version) < 0 || set_str(&o->applied_at, now) < 0)
                return -ENOMEM;
        return 0;
}

int ledger_record_client(Ledger *l, const char *id, const char *module, const char *name, const char *redirect_uri,
                         const char *digest) {
        LedgerClient *c = ledger_find_client(l, id);
        char now[32];

        if (!c) {
                LedgerClient *p = realloc(l->clients, (l->n_clients + 1) * sizeof *p);
                if (!p)
                        return -ENOMEM;
                l->clients = p;
                c = &l->clients[l->n_clients++];
                *c = (LedgerClient) { 0 };
        }
        ledger_now(now, sizeof now);
        snprintf(c->digest, sizeof c->digest, "%s", digest);
        c->kept = false;
        if (set_str(&c->id, id) < 0 || set_str(&c->module, module) < 0 || set_str(&c->name, name) < 0 ||
            set_str(&c->redirect_uri, redirect_uri) < 0 || set_str(&c->applied_at, now) < 0)
                return -ENOMEM;
        return 0;
}

int ledger_intend_object(Ledger *l, const char *api_version, const char *kind, const char *namespace,
                         const char *name, const char *module, const char *op, bool *ret_created) {
        LedgerObject *o = ledger_find_object(l, kind, namespace, name);
        bool created = !o;
        int r;

        if (!o) {
                r = ledger_record_object(l, api_version, kind, namespace, name, module, "", NULL, NULL);
                if (r < 0)
                        return r;
                o = ledger_find_object(l, kind, namespace, name);
        }
        r = set_str(&o->pending, op);
        if (r < 0)
                return r;
        if (ret_created)
                *ret_created = created;
        return 0;
}

int ledger_set_adopted_digest(Ledger *l, const char *kind, const char *namespace, const char *name,
                              const char *digest) {
        LedgerObject *o = ledger_find_object(l, kind, namespace, name);

        return o ? set_str(&o->adopted_digest, digest) : -ENOENT;
}

void ledger_abandon_intent(Ledger *l, const char *kind, const char *namespace, const char *name, bool created) {
        LedgerObject *o = ledger_find_object(l, kind, namespace, name);

        if (!o)
                return;
        if (created) {
                ledger_forget_object(l, kind, namespace, name);
                return;
        }
        free(o->pending);
        o->pending = NULL;
}

void ledger_forget_object(Ledger *l, const char *kind, const char *namespace, const char *name) {
        LedgerObject *o = ledger_find_object(l, kind, namespace, name);
        size_t i;

        if (!o)
                return;
        i = (size_t) (o - l->objects);
        object_done(o);
        memmove(o, o + 1, (l->n_objects - i - 1) * sizeof *o);
        l->n_objects--;
}

void ledger_forget_client(Ledger *l, const char *id) {
        LedgerClient *c = ledger_find_client(l, id);
        size_t i;

        if (!c)
                return;
        i = (size_t) (c - l->clients);
        client_done(c);
        memmove(c, c + 1, (l->n_clients - i - 1) * sizeof *c);
        l->n_clients--;
}

int ledger_set_last_pass(Ledger *l, bool ok, const char *message) {
        _cleanup_free_ char *clean = message ? redact(message) : NULL;
        char now[32];

        if (message && !clean)
                return -ENOMEM;
        ledger_now(now, sizeof now);
        if (set_str(&l->last_time, now) < 0 || set_str(&l->last_result, ok ? "ok" : "error") < 0 ||
            set_str(&l->last_message, clean) < 0)
                return -ENOMEM;
        return 0;
}

static void add_str(cJSON *o, const char *key, const char *value) {
        if (value)
                cJSON_AddStringToObject(o, key, value);
}

static void strs_add(cJSON *o, const void *entry, const StrField *fields, size_t n) {
        for (size_t i = 0; i < n; i++)
                add_str(o, fields[i].key, *str_member(entry, &fields[i]));
}

static cJSON *ledger_to_json(const Ledger *l) {
        cJSON *j = cJSON_CreateObject(), *objs, *clients, *last;

        if (!j)
                return NULL;
        cJSON_AddNumberToObject(j, "schema", LEDGER_SCHEMA);
        cJSON_AddNumberToObject(j, "generation", (double) l->generation);
        last = cJSON_AddObjectToObject(j, "lastPass");
        add_str(last, "time", l->last_time);
        add_str(last, "result", l->last_result);
        add_str(last, "message", l->last_message);
        objs = cJSON_AddArrayToObject(j, "objects");
        for (size_t i = 0; i < l->n_objects; i++) {
                const LedgerObject *o = &l->objects[i];
                cJSON *e = cJSON_CreateObject();
                strs_add(e, o, object_strs, ELEMENTSOF(object_strs));
                add_str(e, "digest", o->digest);
                if (o->view)
                        cJSON_AddItemToObject(e, "view", cJSON_Duplicate(o->view, true));
                cJSON_AddItemToArray(objs, e);
        }
        clients = cJSON_AddArrayToObject(j, "clients");
        for (size_t i = 0; i < l->n_clients; i++) {
                const LedgerClient *c = &l->clients[i];
                cJSON *e = cJSON_CreateObject();
                strs_add(e, c, client_strs, ELEMENTSOF(client_strs));
                add_str(e, "digest", c->digest);
                if (c->kept)
                        cJSON_AddTrueToObject(e, "kept");
                cJSON_AddItemToArray(clients, e);
        }
        return j;
}

int ledger_commit(Ledger *l) {
        return ledger_save(l, true);
}

int ledger_save(Ledger *l, bool durable) {
        cJSON *j;
        char *text;
        int r;

        if (l->read_only)
                return -EROFS;
        j = ledger_to_json(l);
        if (!j)
                return -ENOMEM;
        text = cJSON_Print(j);
        cJSON_Delete(j);
        if (!text)
                return -ENOMEM;
        r = write_file_atomic(l->path, text, strlen(text), 0600, durable ? 0 : WRITE_NO_SYNC);
        free(text);
        return r;
}
