/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stage 3 of the pipeline: configuration -> the desired set. Reads the JSON
 * templates (each file names the module that owns it, or a list of modules
 * that share it, and holds either one Kubernetes object or one oauth
 * client), substitutes the configuration's variables, keeps what an enabled
 * module owns, adds to every pod template an annotation with the digest of
 * the Secret values it consumes, and gives each object a canonical
 * serialisation (keys sorted) and its SHA-256.
 *
 * Substitution, in any JSON string: "${NAME}", "${NAME|base64}" and
 * "${NAME|str}" (a string even for an int); "$${"
 * stands for a literal "${". A string that is exactly one "${NAME}":
 *   - of an absent variable, or of an empty one: the member (or array
 *     element) is dropped (the API server drops empty strings too, so
 *     sending them would make every re-apply a write);
 *   - of an int or bool variable: becomes a JSON number or boolean;
 *   - of a JSON variable (a node selector map, a tolerations list): becomes
 *     that JSON value. A JSON variable inside a longer string is an error.
 * "${NAME|base64}" alone is never dropped: absent or empty, it is "" (a
 * Secret key that exists with an empty value, as install.sh writes it).
 * In a container's env value, command or args, every '$' of a substituted
 * value is doubled: Kubernetes expands "$(VAR)" there and turns "$$" into
 * "$", so the container gets the value as it is (the template's own text,
 * e.g. "$(POSTGRES_PASSWORD)", is left alone).
 * A name the configuration does not know is an error in the template.
 *
 * A template with "installerPatches": true names an object whose pod
 * placement install.sh sets with `kubectl patch` (coturn, the warmer):
 * adopting it takes that over (kube-adopt.h).
 *
 * A template with "partial": true (and "module": "core") holds only the
 * fields the agent sets on an object the platform installed itself, the
 * control plane's Deployment: it is rendered whatever the toggles say, but
 * not at all when one of its variables is absent or empty (an env entry
 * without its value would erase the platform's). With "listEntries":
 * "FIELD" the partial object's FIELD is a list the agent adds its entries
 * to, keeping every other (DesiredObject.list_entries). A template with
 * "createOnly": true is an object the agent creates once and then leaves
 * alone; it too is not rendered without every variable it names.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdint.h>

#include "config.h"

#define SECRET_DIGEST_ANNOTATION "nap-agent.neutree.ai/secret-digest"
/* The annotation's value until it is sealed (what `render` prints). */
#define SECRET_DIGEST_PENDING "computed at apply time"
/* The Secret of the namespace that holds the annotation's key (key "key":
 * 32 random bytes as 64 hex digits, which are the HMAC's key): created once
 * by the agent, never changed or deleted by it. */
#define SECRET_DIGEST_KEY_SECRET "nap-agent-digest-key"
/* On a workload's own metadata: its secret digest, recorded when the agent
 * took it over from install.sh with its pod template as it was (no
 * annotation: adding one would have replaced every pod). It stays there,
 * and the pod template without it, until a secret the template reads
 * changes: then the digest goes into the template (its pods roll, as they
 * must) and this one goes. */
#define SECRET_DIGEST_ADOPTED_ANNOTATION "nap-agent.neutree.ai/adopted-secret-digest"
#define MANAGED_BY_LABEL "app.kubernetes.io/managed-by"
/* The owner of a partial object: the platform's core, which installed it. */
#define PARTIAL_MODULE "core"

typedef struct DesiredObject {
        Module module;     /* the first of its owners that is on */
        char *modules;     /* all its owners, "sandbox" or "sandbox,browser": the
                            * ledger records this, so the plan deletes an object
                            * only when every owner lets it go */
        char *source;      /* template file it came from */
        char *api_version; /* these four point into nothing else: owned */
        char *kind;
        char *namespace;   /* NULL for cluster-scoped kinds */
        char *name;
        int rank;          /* apply order: Secrets/ConfigMaps, Services, Deployments */
        cJSON *body;       /* the object, as applied */
        char *canonical;   /* sorted-key compact JSON of body, then "\n" and the
                            * secret digest's input when there is one (secret) */
        uint8_t digest[32];/* SHA-256 of canonical */
        bool holds_secrets;/* a Secret: never print its data */
        bool partial;      /* a few fields set on an object of the platform's own
                            * (nap-cp's public URLs): applied only when it exists,
                            * never created, adopted or deleted; module is
                            * meaningless, modules is PARTIAL_MODULE */
        bool create_only;  /* created when it does not exist, else never written;
                            * never deleted (the registry login's Secret) */
        char *list_entries;/* partial only, or NULL: the top-level list of body whose
                            * entries (by "name") the agent adds, keeping every other
                            * one, by read-modify-write rather than server-side apply
                            * (the default ServiceAccount's imagePullSecrets) */
        char *secret_digest_input; /* what the pod template's secret-digest annotation is
                                    * the HMAC of ("secret/key=base64\n" lines); NULL when
                                    * the pod consumes no rendered Secret. Secret, wiped */
        bool installer_patches; /* the template's "installerPatches": install.sh sets this object's
                                 * pod placement with `kubectl patch`: adopting it takes that over */
} DesiredObject;

typedef struct DesiredClient {
        Module module;
        char *id;
        char *name;
        char *redirect_uri;
} DesiredClient;

typedef struct DesiredSet {
        DesiredObject *objects; /* in apply order */
        size_t n_objects;
        DesiredClient *clients;
        size_t n_clients;
} DesiredSet;

/* Where the templates are read from; the caller decides both (the CLI's
 * defaults are in cli.c, cli_default_paths()). */
typedef struct TemplateDirs {
        const char *dir;          /* the shipped templates */
        const char *override_dir; /* the operator's: a file here replaces or adds to dir's */
} TemplateDirs;

/* Renders the desired set for c. Template problems are reported as error
 * diagnostics (file:line where known) and return -EINVAL. */
int template_render(const Config *c, const TemplateDirs *dirs, DesiredSet **ret, DiagList *diags);

DesiredSet *desired_set_free(DesiredSet *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(DesiredSet *, desired_set_free);

/* Puts the secret-digest annotation's value, HMAC-SHA-256 of each pod
 * template's consumed values with key, into the bodies (in place of
 * SECRET_DIGEST_PENDING). Sealing again with another key replaces it. */
int template_seal_secret_digests(DesiredSet *s, const void *key, size_t key_len);
/* Whether o carries the annotation, and so needs the key before an apply. */
bool template_needs_secret_digest_key(const DesiredObject *o);
/* The annotation's member in obj's pod template, or NULL. */
cJSON *template_secret_digest_annotation(cJSON *obj);

/* Whether a workload is applied with its secret digest held back from the
 * pod template (SECRET_DIGEST_ADOPTED_ANNOTATION): obj is the sealed
 * object. When the live object was read (live_read; live NULL: it does not
 * exist), it decides: held when its pod template has no digest and its
 * metadata none either (install.sh's, taken over now) or the same value
 * (no secret changed since). Otherwise recorded, what the ledger holds
 * (LedgerObject.adopted_digest, may be NULL), does, by the same rule. */
bool template_secret_digest_held(const cJSON *obj, const char *recorded, const cJSON *live, bool live_read);
/* A copy of the sealed obj with the pod template's digest moved to the
 * object's own metadata (*ret, caller frees). */
int template_secret_digest_hold(const cJSON *obj, cJSON **ret);
/* The value of obj's secret digest: its pod template's annotation, or, when
 * that has none, its own SECRET_DIGEST_ADOPTED_ANNOTATION; NULL if neither. */
const char *template_secret_digest_value(const cJSON *obj);

/* Sorted-key compact serialisation. Returns malloc'ed string or NULL. */
char *json_canonical(const cJSON *j);

/* A deep copy of o->body with every Secret value and every string that
 * contains a secret of c replaced by "<redacted>". */
cJSON *desired_object_redacted(const DesiredObject *o, const Config *c);

int kind_rank(const char *kind);
