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
 *
 * Each object entry keeps the uid the agent's own apply got back, so a
 * delete can prove the object is still the one the agent made, and a seal:
 * an HMAC of the entry's identity with the same key, which tells the
 * entries this agent recorded from any written into the file by someone
 * else (the plan checks an unsealed one against the configuration before
 * anything acts on it). The state directory and the files are refused when
 * anyone but their owner may write them; see ledger_open().
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
        char *uid;        /* metadata.uid of the object the agent applied; NULL: not known (an intent, or an
                           * entry of an older ledger) */
        bool sealed;      /* recorded by this agent (or its seal checks out): not written in by someone else */
        bool create_only; /* made once when missing, never written again, never deleted (template.h) */
        char *adopted_digest; /* a workload taken over with its pod template as it was: the
                               * secret-digest annotation's value then, which the template
                               * does not carry until a secret it reads changes; else NULL */
} LedgerObject;

/* The database a client's row was written to: where (as the connection
 * string names it) and which server, never a password or the connection
 * string itself. A field is NULL when it is not known. */
typedef struct LedgerDatabase {
        char *host;              /* a name, an address or a socket directory; a list stays a list */
        char *port;
        char *name;              /* the database name */
        char *system_identifier; /* the server's, from pg_control_system(); NULL: it could not be read */
} LedgerDatabase;

typedef struct LedgerClient {
        char *id;
        char *module;
        char *name;
        char *redirect_uri;
        char digest[LEDGER_DIGEST_HEX];
        char *applied_at;
        bool kept; /* its module is off; the row is kept (see plan.c), no longer maintained */
        /* The redirect URIs nap-agent put into the row's array and has not
         * taken out: the current one, and one whose write's answer was lost.
         * Only these are ever removed; an admin's own URIs stay. */
        char **owned_uris;
        size_t n_owned_uris;
        LedgerDatabase database; /* where the row was written; all NULL when not recorded */
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
        cJSON *platform_keys; /* name -> keyed digest of the value of a key only the platform's
                               * install.sh applies (plan.h, PlanPlatformKey); NULL: never recorded */
        bool read_only;   /* opened with ledger_open_read_only(): commit refuses */
        bool rebuild;     /* ledger.json was missing or unparsable: what the agent owns is to be
                           * read back from the cluster before anything is applied */
        bool refused;     /* an entry the agent cannot have written was found (plan_check_ledger): the
                           * ledger is never saved, so the file stays as it is for the operator */
} Ledger;

/* Opens the ledger in dir, creating dir (0700) and the key on first use.
 * An unparsable ledger.json is renamed to ledger.json.corrupt-TIME (never
 * over an earlier copy), the ledger starts empty with l->rebuild set, and
 * *ret_message (if given) says so. Any other failure to read it (EIO,
 * EACCES, ENOMEM...) fails, and so does a ledger.key of the wrong size; on
 * failure *ret_message says what is wrong, naming the file and, when it
 * could not be read, the user. A newer schema is refused with
 * -EPROTONOSUPPORT. ledger.json and ledger.key must be regular files that
 * neither their group nor others may write, owned by the running user or
 * root: else -EPERM, *ret_message saying how to fix it (the directory is
 * the caller's, see fs_check_private()). */
int ledger_open(const char *dir, Ledger **ret, char **ret_message);
/* For the verbs that only look (plan, status, doctor): creates nothing,
 * moves nothing; a missing directory or key gives an empty ledger. Any
 * failure to read what exists is an error, as for ledger_open(): a corrupt
 * ledger.json is -EBADMSG (the next writer moves it aside). The files may
 * have any owner (root reads the service's ledger), but not be writable by
 * their group or others. */
int ledger_open_read_only(const char *dir, Ledger **ret, char **ret_message);
Ledger *ledger_free(Ledger *l);
/* Replaces l's objects, clients and last pass with those of text, the
 * content of a ledger.json (NUL-terminated): what opening does after
 * reading it. -EBADMSG when it is not a ledger, -EPROTONOSUPPORT for a newer
 * schema. */
int ledger_parse(Ledger *l, const char *text);
DEFINE_TRIVIAL_CLEANUP_FUNC(Ledger *, ledger_free);

/* Writes the ledger atomically (temp file, fsync, rename, fsync dir); a
 * refused ledger (l->refused) is not written, and that is no error. */
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

/* Records (adds or replaces) an applied object, sealed; view is taken
 * over. uid: the object's metadata.uid, or NULL to keep the one recorded. */
int ledger_record_object(Ledger *l, const char *api_version, const char *kind, const char *namespace,
                         const char *name, const char *module, const char *digest, const char *resource_version,
                         const char *uid, cJSON *view);
/* Records a client whose row now holds redirect_uri, written to db (NULL:
 * the database is not known here and stays as recorded). Its owned URIs
 * become redirect_uri alone: the write took the others out. */
int ledger_record_client(Ledger *l, const char *id, const char *module, const char *name, const char *redirect_uri,
                         const char *digest, const LedgerDatabase *db);
/* Notes before a write that uri is being put into a known client's row, so
 * that it counts as nap-agent's even if the answer is lost. *ret_added (may
 * be NULL) says whether the ledger changed (a save is due). No entry: 0,
 * nothing noted (a new row holds nothing else of ours). */
int ledger_intend_client_uri(Ledger *l, const char *id, const char *uri, bool *ret_added);

/* ledger-client.c: the database of a client. */
void ledger_database_clear(LedgerDatabase *d);
int ledger_database_copy(LedgerDatabase *dst, const LedgerDatabase *src);
/* Whether anything of d is recorded (an entry written before the database
 * was recorded has nothing). */
bool ledger_database_known(const LedgerDatabase *d);
/* Whether target (a field NULL: not known yet) names another database than
 * recorded: another host, port or database name, or another server (both
 * system identifiers known and different). False when recorded is not known. */
bool ledger_database_moved(const LedgerDatabase *recorded, const LedgerDatabase *target);
/* "\"nap\" at 127.0.0.1:5432 (system identifier N)" (malloc'ed; NULL when
 * out of memory); a NULL host reads as unknown_host, the identifier is
 * left out when not known. */
char *ledger_database_describe(const LedgerDatabase *d, const char *unknown_host);
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

/* The keyed digest last recorded for the platform key name (see
 * Ledger.platform_keys), or NULL; ledger_platform_keys_recorded() says
 * whether any ever was. */
const char *ledger_platform_key(const Ledger *l, const char *name);
bool ledger_platform_keys_recorded(const Ledger *l);
int ledger_record_platform_key(Ledger *l, const char *name, const char *digest);

/* Notes the outcome of a pass; message passes the redaction step (util/redact.h). */
int ledger_set_last_pass(Ledger *l, bool ok, const char *message);

/* Current time as RFC 3339 UTC into buf (at least 32 bytes). */
void ledger_now(char *buf, size_t size);
