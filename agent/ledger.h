/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ledger: what the agent applied, so a pass applies only what changed
 * and prunes only what is its own. One JSON file, ledger.json, in the state
 * directory (mode 0600 in a 0700 directory), replaced atomically. For each
 * object and oauth client it keeps the identity, a keyed digest (HMAC-SHA-256
 * with a random per-host key kept beside it in ledger.key, so a secret cannot
 * be guessed from the file), the resourceVersion and when it was applied,
 * plus a view of the applied object in which every secret value is replaced
 * by its keyed digest (for `plan` to show which fields changed). It never
 * holds a secret value.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"

#define LEDGER_SCHEMA 1
#define LEDGER_DIGEST_HEX 65

typedef struct LedgerObject {
        char *api_version;
        char *kind;
        char *namespace; /* NULL for cluster-scoped */
        char *name;
        char *module;
        char digest[LEDGER_DIGEST_HEX];
        char *resource_version;
        char *applied_at; /* RFC 3339 UTC */
        cJSON *view;      /* secret-free view of what was applied; may be NULL */
        char *pending;    /* "apply" or "delete": a write was sent, its outcome not yet recorded */
        char *adopted_digest; /* a workload taken over with its pod template as it was: the
                               * secret-digest annotation's value then, which the template
                               * does not carry until a secret it reads changes; else NULL */
} LedgerObject;

typedef struct LedgerClient {
        char *id;
        char *module;
        char *name;
        char *redirect_uri;
        char digest[LEDGER_DIGEST_HEX];
        char *applied_at;
        bool kept; /* its module is off; the row is kept (see plan.c), no longer maintained */
} LedgerClient;

typedef struct Ledger {
        char *dir;
        char *path;
        uint8_t key[32];
        uint64_t generation;
        LedgerObject *objects;
        size_t n_objects;
        LedgerClient *clients;
        size_t n_clients;
        /* the last pass */
        char *last_time;
        char *last_result; /* "ok" or "error" */
        char *last_message;
        bool read_only;   /* opened with ledger_open_read_only(): commit refuses */
        char *unreadable; /* why ledger.json could not be read (it was treated as empty), or NULL */
        bool rebuild;     /* ledger.json was missing or unparsable: what the agent owns is to be
                           * read back from the cluster before anything is applied */
} Ledger;

/* Opens the ledger in dir, creating dir (0700) and the key on first use.
 * An unparsable ledger.json is renamed to ledger.json.corrupt-TIME (never
 * over an earlier copy), the ledger starts empty with l->rebuild set, and
 * *ret_message (if given) says so. Any other failure to read it (EIO,
 * EACCES, ENOMEM...) fails, and so does a ledger.key of the wrong size; on
 * failure *ret_message says what is wrong, naming the file, when it can.
 * A newer schema is refused with -EPROTONOSUPPORT. */
int ledger_open(const char *dir, Ledger **ret, char **ret_message);
/* For the verbs that only look (plan, status, doctor): creates nothing,
 * moves nothing; a missing directory or key gives an empty ledger, a
 * corrupt one an empty ledger with l->unreadable set and a warning. */
int ledger_open_read_only(const char *dir, Ledger **ret, char **ret_message);
Ledger *ledger_free(Ledger *l);
/* Replaces l's objects, clients and last pass with those of text, the
 * content of a ledger.json (NUL-terminated): what opening does after
 * reading it. -EBADMSG when it is not a ledger, -EPROTONOSUPPORT for a newer
 * schema. */
int ledger_parse(Ledger *l, const char *text);
DEFINE_TRIVIAL_CLEANUP_FUNC(Ledger *, ledger_free);

/* Writes the ledger atomically (temp file, fsync, rename, fsync dir). */
int ledger_commit(Ledger *l);
/* The same, durable or not: without fsync a crash of the process loses
 * nothing, one of the machine may lose the last save (for what only settles
 * an earlier durable save: the next pass repeats a write, or reads the
 * ledger back from the cluster). */
int ledger_save(Ledger *l, bool durable);

/* HMAC-SHA-256 of data with the ledger key, as hex. */
void ledger_hmac(const Ledger *l, const void *data, size_t len, char ret[LEDGER_DIGEST_HEX]);

LedgerObject *ledger_find_object(const Ledger *l, const char *kind, const char *namespace, const char *name);
LedgerClient *ledger_find_client(const Ledger *l, const char *id);

/* Records (adds or replaces) an applied object; view is taken over. */
int ledger_record_object(Ledger *l, const char *api_version, const char *kind, const char *namespace,
                         const char *name, const char *module, const char *digest, const char *resource_version,
                         cJSON *view);
int ledger_record_client(Ledger *l, const char *id, const char *module, const char *name, const char *redirect_uri,
                         const char *digest);
/* Notes before a write that op ("apply" or "delete") is being sent for the
 * object, creating its entry (with no digest) when the ledger does not know
 * it yet, so that a write whose answer is lost still counts as the agent's.
 * *ret_created (may be NULL) says whether the entry is new. Recording or
 * forgetting the object settles it. */
int ledger_intend_object(Ledger *l, const char *api_version, const char *kind, const char *namespace,
                         const char *name, const char *module, const char *op, bool *ret_created);
/* Sets (digest NULL: clears) the adopted_digest of a recorded object; a
 * later ledger_record_object() keeps it. */
int ledger_set_adopted_digest(Ledger *l, const char *kind, const char *namespace, const char *name,
                              const char *digest);
/* Undoes an intent whose write certainly did not happen (the server
 * refused it): a new entry goes, an old one loses its pending mark. */
void ledger_abandon_intent(Ledger *l, const char *kind, const char *namespace, const char *name, bool created);

/* Forgets an object or client; 0 also when it was not there. */
void ledger_forget_object(Ledger *l, const char *kind, const char *namespace, const char *name);
void ledger_forget_client(Ledger *l, const char *id);

/* Notes the outcome of a pass; message passes the redaction step (util/redact.h). */
int ledger_set_last_pass(Ledger *l, bool ok, const char *message);

/* Current time as RFC 3339 UTC into buf (at least 32 bytes). */
void ledger_now(char *buf, size_t size);
