/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ledger.json, the format: an in-memory Ledger read from its text and
 * written back as JSON, with the seal of each object entry. Opening,
 * locking and saving the file are ledger.c's.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger-internal.h"
#include "ledger.h"
#include "util/json.h"
#include "util/macro.h"

static char *json_dup(const cJSON *j, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
        return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static void copy_digest(char dst[LEDGER_DIGEST_HEX], const cJSON *j) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "digest");
        snprintf(dst, LEDGER_DIGEST_HEX, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

/* The seal of an entry: an HMAC of its identity (every field is
 * length-prefixed, so no two identities share an input). Only who holds
 * ledger.key can make one; a missing or wrong seal marks an entry the
 * agent did not write (or one of an older ledger, which had none). */
static int object_seal(const Ledger *l, const LedgerObject *o, char ret[LEDGER_DIGEST_HEX]) {
        const char *const parts[] = { o->api_version, o->kind, strempty(o->namespace) ? "" : o->namespace, o->name,
                                      o->module, strempty(o->uid) ? "" : o->uid };
        _cleanup_free_ char *input = NULL;

        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                char *next;
                if (asprintf(&next, "%s%zu:%s;", input ? input : "nap-agent ledger object;", strlen(parts[i]),
                             parts[i]) < 0)
                        return -ENOMEM;
                free(input);
                input = next;
        }
        ledger_hmac(l, input, strlen(input), ret);
        return 0;
}

static int parse_objects(Ledger *l, const cJSON *arr) {
        const cJSON *o;

        cJSON_ArrayForEach(o, arr) {
                _cleanup_free_ char *av = json_dup(o, "apiVersion"), *kind = json_dup(o, "kind"),
                                    *ns = json_dup(o, "namespace"), *name = json_dup(o, "name"),
                                    *mod = json_dup(o, "module"), *rv = json_dup(o, "resourceVersion"),
                                    *uid = json_dup(o, "uid");
                const char *seal = json_string(o, "seal");
                char digest[LEDGER_DIGEST_HEX], want[LEDGER_DIGEST_HEX];
                const cJSON *view = cJSON_GetObjectItemCaseSensitive(o, "view");
                int r;

                if (!av || !kind || !name || !mod)
                        return -EBADMSG;
                copy_digest(digest, o);
                r = ledger_record_object(l, av, kind, ns, name, mod, digest, rv, uid,
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
                free(e->uid);
                e->uid = TAKE_PTR(uid);
                r = object_seal(l, e, want);
                if (r < 0)
                        return r;
                e->sealed = seal && streq(seal, want);
                e->create_only = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "createOnly"));
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
                r = ledger_record_client(l, id, mod, name, uri, digest, NULL);
                if (r < 0)
                        return r;
                LedgerClient *e = ledger_find_client(l, id);
                free(e->applied_at);
                e->applied_at = json_dup(o, "appliedAt");
                e->kept = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "kept"));
                r = ledger_client_parse_extra(e, o);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* {"KEY": "hex digest", ...}; entries of another shape are dropped (the
 * next pass records them again, without a notice). */
static int parse_platform_keys(Ledger *l, const cJSON *keys) {
        if (!cJSON_IsObject(keys))
                return 0;
        l->platform_keys = cJSON_CreateObject();
        if (!l->platform_keys)
                return -ENOMEM;
        for (const cJSON *k = keys->child; k; k = k->next)
                if (cJSON_IsString(k) && strlen(k->valuestring) == LEDGER_DIGEST_HEX - 1 &&
                    ledger_record_platform_key(l, k->string, k->valuestring) < 0)
                        return -ENOMEM;
        return 0;
}

int ledger_json_parse(Ledger *l, const char *text) {
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
        if (r >= 0)
                r = parse_platform_keys(l, cJSON_GetObjectItemCaseSensitive(j, "platformKeys"));
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
        { "uid", offsetof(LedgerObject, uid) },
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

void ledger_object_done(LedgerObject *o) {
        strs_free(o, object_strs, ELEMENTSOF(object_strs));
        cJSON_Delete(o->view);
}

void ledger_client_done(LedgerClient *c) {
        strs_free(c, client_strs, ELEMENTSOF(client_strs));
        ledger_client_extra_free(c);
}

static void add_str(cJSON *o, const char *key, const char *value) {
        if (value)
                cJSON_AddStringToObject(o, key, value);
}

static void strs_add(cJSON *o, const void *entry, const StrField *fields, size_t n) {
        for (size_t i = 0; i < n; i++)
                add_str(o, fields[i].key, *str_member(entry, &fields[i]));
}

cJSON *ledger_json_format(const Ledger *l) {
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
                char seal[LEDGER_DIGEST_HEX];
                strs_add(e, o, object_strs, ELEMENTSOF(object_strs));
                add_str(e, "digest", o->digest);
                if (o->sealed && object_seal(l, o, seal) < 0) {
                        cJSON_Delete(e);
                        cJSON_Delete(j);
                        return NULL;
                }
                if (o->sealed)
                        add_str(e, "seal", seal);
                if (o->create_only)
                        cJSON_AddTrueToObject(e, "createOnly");
                if (o->view)
                        cJSON_AddItemToObject(e, "view", cJSON_Duplicate(o->view, true));
                cJSON_AddItemToArray(objs, e);
        }
        if (l->platform_keys)
                cJSON_AddItemToObject(j, "platformKeys", cJSON_Duplicate(l->platform_keys, true));
        clients = cJSON_AddArrayToObject(j, "clients");
        for (size_t i = 0; i < l->n_clients; i++) {
                const LedgerClient *c = &l->clients[i];
                cJSON *e = cJSON_CreateObject();
                strs_add(e, c, client_strs, ELEMENTSOF(client_strs));
                add_str(e, "digest", c->digest);
                if (c->kept)
                        cJSON_AddTrueToObject(e, "kept");
                if (ledger_client_add_extra(e, c) < 0) {
                        cJSON_Delete(e);
                        cJSON_Delete(j);
                        return NULL;
                }
                cJSON_AddItemToArray(clients, e);
        }
        return j;
}
