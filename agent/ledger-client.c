/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the ledger keeps of an oauth client besides its identity and digest:
 * the redirect URIs nap-agent put into the row (so that it takes out only
 * its own, never an admin's), and the database the row was written to (so
 * that pointing the agent at another database registers every client
 * there). Neither holds a secret: a database is recorded by host, port,
 * name and the server's system identifier, never by its connection string.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger-internal.h"
#include "util/json.h"

static const struct {
        const char *key;
        size_t offset;
} database_fields[] = {
        { "host", offsetof(LedgerDatabase, host) },
        { "port", offsetof(LedgerDatabase, port) },
        { "name", offsetof(LedgerDatabase, name) },
        { "systemIdentifier", offsetof(LedgerDatabase, system_identifier) },
};

static char **database_field(const LedgerDatabase *d, size_t i) {
        return (char **) ((const char *) d + database_fields[i].offset);
}

void ledger_database_clear(LedgerDatabase *d) {
        assert(d);

        for (size_t i = 0; i < ELEMENTSOF(database_fields); i++) {
                free(*database_field(d, i));
                *database_field(d, i) = NULL;
        }
}

int ledger_database_copy(LedgerDatabase *dst, const LedgerDatabase *src) {
        LedgerDatabase n = { 0 };

        assert(dst);
        assert(src);

        for (size_t i = 0; i < ELEMENTSOF(database_fields); i++) {
                const char *v = *database_field(src, i);
                if (v && !(*database_field(&n, i) = strdup(v))) {
                        ledger_database_clear(&n);
                        return -ENOMEM;
                }
        }
        ledger_database_clear(dst);
        *dst = n;
        return 0;
}

bool ledger_database_known(const LedgerDatabase *d) {
        assert(d);

        return d->host || d->port || d->name;
}

/* Differs only when both are known: NULL is "not known", not "empty". */
static bool known_and_differ(const char *a, const char *b) {
        return a && b && !streq(a, b);
}

bool ledger_database_moved(const LedgerDatabase *recorded, const LedgerDatabase *target) {
        if (!recorded || !target || !ledger_database_known(recorded))
                return false;
        return known_and_differ(recorded->host, target->host) || known_and_differ(recorded->port, target->port) ||
               known_and_differ(recorded->name, target->name) ||
               known_and_differ(recorded->system_identifier, target->system_identifier);
}

char *ledger_database_describe(const LedgerDatabase *d, const char *unknown_host) {
        char *s;

        assert(d);
        assert(unknown_host);

        if (asprintf(&s, "\"%s\" at %s:%s%s%s%s", d->name ? d->name : "?", d->host ? d->host : unknown_host,
                     d->port ? d->port : "?", d->system_identifier ? " (system identifier " : "",
                     strempty(d->system_identifier) ? "" : d->system_identifier, d->system_identifier ? ")" : "") < 0)
                return NULL;
        return s;
}

/* ---- owned redirect URIs ------------------------------------------------- */

static void owned_free(LedgerClient *c) {
        for (size_t i = 0; i < c->n_owned_uris; i++)
                free(c->owned_uris[i]);
        free(c->owned_uris);
        c->owned_uris = NULL;
        c->n_owned_uris = 0;
}

static bool owns(const LedgerClient *c, const char *uri) {
        for (size_t i = 0; i < c->n_owned_uris; i++)
                if (streq(c->owned_uris[i], uri))
                        return true;
        return false;
}

static int owned_add(LedgerClient *c, const char *uri) {
        char **n, *s;

        if (owns(c, uri))
                return 0;
        s = strdup(uri);
        n = s ? realloc(c->owned_uris, (c->n_owned_uris + 1) * sizeof *n) : NULL;
        if (!n) {
                free(s);
                return -ENOMEM;
        }
        c->owned_uris = n;
        c->owned_uris[c->n_owned_uris++] = s;
        return 1;
}

int ledger_client_own_only(LedgerClient *c, const char *uri) {
        assert(c);

        owned_free(c);
        return uri ? owned_add(c, uri) : 0;
}

int ledger_intend_client_uri(Ledger *l, const char *id, const char *uri, bool *ret_added) {
        LedgerClient *c;
        int r;

        assert(l);
        assert(id);
        assert(uri);

        c = ledger_find_client(l, id);
        r = c ? owned_add(c, uri) : 0;
        if (r < 0)
                return r;
        if (ret_added)
                *ret_added = r > 0;
        return 0;
}

/* ---- ledger.json ----------------------------------------------------------- */

static int parse_owned(LedgerClient *c, const cJSON *arr) {
        const cJSON *u;
        int r;

        if (!arr)
                return ledger_client_own_only(c, c->redirect_uri); /* a ledger written before they were kept */
        if (!cJSON_IsArray(arr))
                return -EBADMSG;
        owned_free(c);
        cJSON_ArrayForEach(u, arr) {
                if (!cJSON_IsString(u))
                        return -EBADMSG;
                r = owned_add(c, u->valuestring);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_database(LedgerDatabase *d, const cJSON *o) {
        ledger_database_clear(d);
        if (!o || cJSON_IsNull(o))
                return 0;
        if (!cJSON_IsObject(o))
                return -EBADMSG;
        for (size_t i = 0; i < ELEMENTSOF(database_fields); i++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, database_fields[i].key);
                if (!v || cJSON_IsNull(v))
                        continue;
                if (!cJSON_IsString(v))
                        return -EBADMSG;
                if (!(*database_field(d, i) = strdup(v->valuestring)))
                        return -ENOMEM;
        }
        return 0;
}

int ledger_client_parse_extra(LedgerClient *c, const cJSON *o) {
        int r;

        assert(c);
        assert(o);

        r = parse_owned(c, cJSON_GetObjectItemCaseSensitive(o, "ownedRedirectUris"));
        if (r < 0)
                return r;
        return parse_database(&c->database, cJSON_GetObjectItemCaseSensitive(o, "database"));
}

int ledger_client_add_extra(cJSON *e, const LedgerClient *c) {
        cJSON *arr, *d;

        assert(e);
        assert(c);

        arr = cJSON_AddArrayToObject(e, "ownedRedirectUris");
        if (!arr)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_owned_uris; i++)
                if (!cJSON_AddItemToArray(arr, cJSON_CreateString(c->owned_uris[i])))
                        return -ENOMEM;
        if (!ledger_database_known(&c->database))
                return 0;
        d = cJSON_AddObjectToObject(e, "database");
        if (!d)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(database_fields); i++) {
                const char *v = *database_field(&c->database, i);
                if (!(v ? cJSON_AddStringToObject(d, database_fields[i].key, v)
                        : cJSON_AddNullToObject(d, database_fields[i].key)))
                        return -ENOMEM;
        }
        return 0;
}

void ledger_client_extra_free(LedgerClient *c) {
        assert(c);

        owned_free(c);
        ledger_database_clear(&c->database);
}
