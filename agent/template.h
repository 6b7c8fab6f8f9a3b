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
 * A name the configuration does not know is an error in the template.
 *
 * A template with "partial": true (and "module": "core") holds only the
 * fields the agent sets on an object the platform installed itself, the
 * control plane's Deployment: it is rendered whatever the toggles say, but
 * not at all when one of its variables is absent or empty (an env entry
 * without its value would erase the platform's).
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdint.h>

#include "config.h"

#define SECRET_DIGEST_ANNOTATION "nap-agent.neutree.ai/secret-digest"
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
        char *canonical;   /* sorted-key compact JSON of body */
        uint8_t digest[32];/* SHA-256 of canonical */
        bool holds_secrets;/* a Secret: never print its data */
        bool partial;      /* a few fields set on an object of the platform's own
                            * (nap-cp's public URLs): applied only when it exists,
                            * never created, adopted or deleted; module is
                            * meaningless, modules is PARTIAL_MODULE */
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

typedef struct TemplateDirs {
        const char *dir;          /* NULL: $NAP_TEMPLATES_DIR, the source tree when run from the build tree, or the installed dir */
        const char *override_dir; /* NULL: $NAP_TEMPLATES_OVERRIDE_DIR or /etc/nap/templates.d */
} TemplateDirs;

/* Renders the desired set for c. Template problems are reported as error
 * diagnostics (file:line where known) and return -EINVAL. */
int template_render(const Config *c, const TemplateDirs *dirs, DesiredSet **ret, DiagList *diags);

DesiredSet *desired_set_free(DesiredSet *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(DesiredSet *, desired_set_free);

/* Sorted-key compact serialisation. Returns malloc'ed string or NULL. */
char *json_canonical(const cJSON *j);
/* Lower-case hex of 32 bytes into 65 bytes. */
void digest_to_hex(const uint8_t d[32], char ret[65]);

/* A deep copy of o->body with every Secret value and every string that
 * contains a secret of c replaced by "<redacted>". */
cJSON *desired_object_redacted(const DesiredObject *o, const Config *c);

/* "Kind/name" or "Kind/namespace/name" identity; malloc'ed. */
char *desired_object_id(const DesiredObject *o);
int kind_rank(const char *kind);
