/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes client: the stage that turns desired objects into
 * server-side applies and deletes against the kube-apiserver (docs/design.md,
 * "Ownership and adoption").
 *
 * Every verb is asynchronous: it starts requests on the client's sd-event
 * loop (kube-http.c) and reports through a callback, so the daemon's loop is
 * never blocked and independent requests run at once over kept-alive
 * connections. The synchronous wrappers (kube_apply, kube_get...) run the
 * loop until their request is done, for the one-shot CLI verbs and doctor.
 * A normal apply is exactly one PATCH; only adoption (KUBE_APPLY_ADOPT) and
 * a resync (KUBE_APPLY_RESYNC) read first, and only an answer showing fields
 * install.sh re-applied since (KUBE_APPLY_RECLAIM) costs two more. Failures
 * come back as a negative errno plus one human line in a KubeError, built
 * from the server's Status message; this module never logs above debug and
 * never puts a token or key into an error or a log line.
 *
 * Retries: connection errors, timeouts, 429 and 5xx, with capped exponential
 * backoff and jitter, honouring Retry-After, within a total deadline per call.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include <cjson/cJSON.h>

#include "util/clock.h"
#include "util/macro.h"

/* The field manager of every write the agent makes. */
#define KUBE_FIELD_MANAGER "nap-agent"

/* One of a Status's details.causes: its reason ("FieldValueInvalid",
 * "FieldValueForbidden"...) and the field path it names. */
typedef struct KubeCause {
        char reason[40];
        char field[120];
} KubeCause;

#define KUBE_ERROR_CAUSES_MAX 8

/* The human detail of the last failure: one line, safe to log, and the
 * causes the server gave (the first KUBE_ERROR_CAUSES_MAX). */
typedef struct KubeError {
        long http_status; /* 0 when no HTTP answer was received */
        char reason[64];  /* the Status reason ("Invalid", "NotFound"...), or "" */
        char message[512];
        KubeCause causes[KUBE_ERROR_CAUSES_MAX];
        unsigned n_causes;
        bool causes_cut; /* the server gave more than KUBE_ERROR_CAUSES_MAX */
} KubeError;

void kube_error_clear(KubeError *err);
/* Sets err (when not NULL) to a message without HTTP status; returns error
 * (a negative errno), so that `return kube_error_setf(err, -EINVAL, ...)`. */
int kube_error_setf(KubeError *err, int error, const char *format, ...) _printf_(3, 4);

typedef struct KubeClientOptions {
        usec_t request_timeout_usec; /* one attempt; 0: the default (util/defaults.h) */
        usec_t connect_timeout_usec;
        usec_t deadline_usec;        /* one call, retries included */
        usec_t backoff_initial_usec;
        usec_t backoff_max_usec;
        unsigned max_connections;    /* per host, when requests cannot share one (HTTP/1.1); 0: 8 */
} KubeClientOptions;

typedef struct KubeClient KubeClient;

/* Loads the kubeconfig at kubeconfig_path (see kube-config.h) and prepares a
 * connection; nothing is sent yet. opts may be NULL for the defaults. The
 * client runs its requests on event (a reference is taken), or on a private
 * loop when event is NULL. Freeing a client drops its requests in flight
 * without calling their callbacks; never free it from inside one. */
int kube_client_new(const char *kubeconfig_path, const KubeClientOptions *opts, sd_event *event, KubeClient **ret,
                    KubeError *err);
KubeClient *kube_client_free(KubeClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(KubeClient *, kube_client_free);

/* The server URL, e.g. "https://127.0.0.1:6443" (owned by c). */
const char *kube_client_server(const KubeClient *c);
sd_event *kube_client_event(const KubeClient *c);
/* Whether no request is in flight or waiting to be retried. */
bool kube_client_idle(const KubeClient *c);

typedef struct KubeStats {
        unsigned long requests;    /* HTTP requests sent, retries included */
        unsigned long connections; /* new connections opened */
} KubeStats;
void kube_client_stats(const KubeClient *c, KubeStats *ret);

/* The requests a client sent (each attempt, retries included, counted as it
 * goes out), by verb and by the kind of object the path names: what the
 * daemon's metrics report. A client lives only while there is work (it is
 * closed when idle), so whoever wants a total adds each client's counts up
 * before freeing it. */
typedef enum KubeVerb {
        KUBE_VERB_GET,    /* GET of one object */
        KUBE_VERB_LIST,   /* GET of a collection */
        KUBE_VERB_WATCH,  /* GET of a collection with watch=1 */
        KUBE_VERB_CREATE, /* POST */
        KUBE_VERB_UPDATE, /* PUT */
        KUBE_VERB_PATCH,  /* PATCH, a merge patch */
        KUBE_VERB_APPLY,  /* PATCH, a server-side apply (dry runs too) */
        KUBE_VERB_DELETE, /* DELETE */
        KUBE_VERB_OTHER,  /* any other method */
        _KUBE_VERB_MAX,
} KubeVerb;

/* The kinds kube_path() knows (see kube-path.c), and one more for any path
 * that names none (discovery, /version, reviews). */
#define KUBE_N_KINDS 12

typedef struct KubeRequests {
        uint64_t n[_KUBE_VERB_MAX][KUBE_N_KINDS];
} KubeRequests;

/* The client's counts since it was made (owned by c). */
const KubeRequests *kube_client_requests(const KubeClient *c);
/* total += add. */
void kube_requests_add(KubeRequests *total, const KubeRequests *add);
/* "get", "list", ...: the verb as the metrics name it. */
const char *kube_verb_to_string(KubeVerb v);
/* The kind of index i < KUBE_N_KINDS ("Deployment"...), "other" for the last. */
const char *kube_kind_at(size_t i);
/* The verb and the kind index of a request: METHOD path (with its query);
 * apply: a PATCH's body is a server-side apply. */
void kube_request_classify(const char *method, const char *path, bool apply, KubeVerb *ret_verb, size_t *ret_kind);

/* Names one object. The strings are borrowed (from a cJSON object or the
 * caller); namespace is NULL for cluster-scoped kinds. */
typedef struct KubeRef {
        const char *api_version;
        const char *kind;
        const char *namespace;
        const char *name;
} KubeRef;

/* Points ret's strings into obj (apiVersion, kind, metadata.namespace,
 * metadata.name). -EINVAL when one of them is missing or not a string. */
int kube_ref_from_object(const cJSON *obj, KubeRef *ret);

/* The REST path of ref, e.g. "/api/v1/namespaces/ns/services/name" or
 * "/apis/apps/v1/namespaces/ns/deployments/name". Known kinds: Namespace,
 * Secret, Service, ConfigMap, ServiceAccount (v1), Deployment, StatefulSet,
 * DaemonSet (apps/v1), Lease (coordination.k8s.io/v1). -EOPNOTSUPP for any
 * other kind, -EINVAL for a bad name or a namespace where none belongs (or
 * none where one must). */
int kube_path(const KubeRef *ref, char **ret);
/* kube_path() with the error described in err. */
int kube_ref_path(const KubeRef *ref, char **ret, KubeError *err);
/* The path of a collection, e.g. "/apis/apps/v1/namespaces/ns/deployments"
 * (for a list or a watch): the kinds above, and Pod (v1) and ReplicaSet
 * (apps/v1), which are only ever read; errors as kube_path(). */
int kube_collection_path(const char *api_version, const char *kind, const char *namespace, char **ret);

enum {
        KUBE_APPLY_DRY_RUN = 1u << 0, /* dryRun=All: validated, nothing persisted */
        KUBE_APPLY_ADOPT = 1u << 1,   /* take fields over from install.sh's kubectl first */
        KUBE_APPLY_RESYNC = 1u << 2,  /* read first; write only when the live object lacks what obj says */
        KUBE_APPLY_EXISTING = 1u << 3, /* read first; never create: a missing object is -ENOENT (a partial
                                        * object, e.g. the env of the platform's own Deployment) */
        KUBE_APPLY_RECLAIM = 1u << 4,  /* take install.sh's fields over again when it re-ran since (see kube_apply) */
        KUBE_APPLY_TAKE_PATCHED = 1u << 5, /* adoption also takes the pod placement install.sh set by
                                            * `kubectl patch` (kube-adopt.h) */
};

typedef struct KubeApplyResult {
        char *resource_version; /* after the apply; NULL after a dry run that would create */
        bool created;           /* 201 */
        bool changed;           /* created, or the apply changed the object (see kube_apply) */
        bool adopted;           /* fields of other managers (kubectl...) were taken over */
        bool reclaimed;         /* ... after the apply: install.sh re-ran and they would have stayed */
        cJSON *live;            /* the object as the server returned it */
} KubeApplyResult;

void kube_apply_result_clear(KubeApplyResult *r);

/* Server-side apply of obj (PATCH, application/apply-patch+yaml,
 * fieldManager=nap-agent, force=true). last_resource_version is what the
 * caller saw after its previous apply (NULL: unknown, then a 200 counts as
 * changed). Without KUBE_APPLY_ADOPT this is exactly one request.
 *
 * With KUBE_APPLY_ADOPT (for an object the caller does not know yet): GET it
 * (missing: a plain create); rewrite metadata.managedFields so that the
 * fields of install.sh's `kubectl apply --server-side` (manager kubectl,
 * operation Apply), and with KUBE_APPLY_TAKE_PATCHED the pod placement of
 * its `kubectl patch`es, become nap-agent's (one merge PATCH, guarded by the
 * resourceVersion just read; kube-adopt.h), then apply. nap-agent is then
 * the owner of those fields, so a later apply without a field removes it;
 * every other field of Update managers (kubectl-label, kubectl-edit,
 * controllers) stays theirs. Under DRY_RUN the rewrite is not sent, only
 * reported.
 *
 * With KUBE_APPLY_RECLAIM: install.sh may have re-run since and applied or
 * patched its fields again, sharing them with nap-agent; a field obj no
 * longer sets would then stay. So when the object read first (RESYNC), or
 * the apply's answer, shows such a field, it is taken over as above and
 * the apply repeated (once): what the answer shows is then what obj says.
 * Not under DRY_RUN (kube_adopt_leftovers() says what it would remove).
 *
 * With KUBE_APPLY_RESYNC: GET it; when every field of obj is already live
 * with the same value, nothing is written (changed false); otherwise apply,
 * and changed tells whether the apply moved the resourceVersion.
 *
 * With KUBE_APPLY_EXISTING: GET it; missing, nothing is sent and the result
 * is -ENOENT (err names it), so a partial obj never creates a broken object.
 * An object deleted between the read and the write would be created: the
 * server refuses that for a partial obj (a Deployment without selector).
 *
 * *ret is written only on success; free with kube_apply_result_clear(). */
int kube_apply(KubeClient *c, const cJSON *obj, const char *last_resource_version, unsigned flags,
               KubeApplyResult *ret, KubeError *err);

/* DELETE with propagationPolicy=Background, without precondition (see
 * kube_delete_start). A 404 is success with *ret_existed = false.
 * ret_existed may be NULL. */
int kube_delete(KubeClient *c, const KubeRef *ref, bool *ret_existed, KubeError *err);

/* GET; -ENOENT (and err set) when the object does not exist. */
int kube_get(KubeClient *c, const KubeRef *ref, cJSON **ret, KubeError *err);

/* GET of any API path (with its query, e.g. a pod list with a label
 * selector): the JSON object answered. -ENOENT on 404. */
int kube_get_path(KubeClient *c, const char *path, cJSON **ret, KubeError *err);
/* POST of body (JSON) to path, e.g. a SelfSubjectAccessReview: the JSON
 * object answered (200 or 201). */
int kube_create_path(KubeClient *c, const char *path, const cJSON *body, cJSON **ret, KubeError *err);

/* A JSON merge patch of an existing object under field_manager (letters,
 * digits and '-'): an Update entry in its managedFields, not an Apply, so
 * the fields it sets are that manager's and the agent's own server-side
 * applies leave them alone. Never creates: -ENOENT when missing. *ret (may
 * be NULL) gets the object answered. */
int kube_patch(KubeClient *c, const KubeRef *ref, const char *field_manager, const cJSON *patch, cJSON **ret,
               KubeError *err);

/* ---- asynchronous verbs ----------------------------------------------------
 * Each starts its requests on the client's loop and calls its callback
 * exactly once, from the loop, unless cancelled first; *ret (ret may be
 * NULL) gets the operation, to cancel it until then. */

typedef struct KubeOp KubeOp;
/* Stops the operation (its request in flight is dropped) and frees it; its
 * callback is not called. NULL is a no-op. A request the server received
 * may still take effect. */
void kube_op_cancel(KubeOp *op);

/* obj: the object answered (the callee owns it), NULL on error. */
typedef void (*KubeObjectDone)(int r, cJSON *obj, const KubeError *err, void *userdata);
typedef void (*KubeDeleteDone)(int r, bool existed, const KubeError *err, void *userdata);
/* res: may be taken over (steal its pointers); NULL on error. */
typedef void (*KubeApplyDone)(int r, KubeApplyResult *res, const KubeError *err, void *userdata);

/* GET of an API path (with its query). -ENOENT on 404. */
int kube_get_start(KubeClient *c, const char *path, KubeObjectDone done, void *userdata, KubeOp **ret);
/* Adds the entries of obj's array member list (matched by their "name")
 * that the live object's list lacks, keeping every entry already there:
 * GET, then a merge PATCH (an Update of the field manager nap-agent) of
 * the whole list at the resourceVersion read, read again on 409 (at most
 * three reads). For a list server-side apply treats as atomic (a
 * ServiceAccount's imagePullSecrets), where an apply would replace it.
 * Never creates: -ENOENT when the object is missing. The result's changed
 * says whether an entry was added; its live is the object after. */
int kube_add_entries_start(KubeClient *c, const cJSON *obj, const char *list, KubeApplyDone done, void *userdata,
                           KubeOp **ret);
/* POST of obj to its collection: created, never replaced. -EEXIST (err
 * set) when an object of that name exists (409). obj is serialised at
 * once (and wiped when the request is done). */
int kube_create_start(KubeClient *c, const cJSON *obj, KubeObjectDone done, void *userdata, KubeOp **ret);
/* DELETE with propagationPolicy=Background, a 404 being success (existed
 * false). With uid (not NULL), the delete carries preconditions.uid: the
 * server deletes only the object of that uid, and answers 409 when the name
 * is another object's now (deleted and created again by someone else),
 * which is -ESTALE (err set). */
int kube_delete_start(KubeClient *c, const KubeRef *ref, const char *uid, KubeDeleteDone done, void *userdata,
                      KubeOp **ret);
/* kube_apply(), asynchronously. obj is serialised at once: it need not outlive the call. */
int kube_apply_start(KubeClient *c, const cJSON *obj, const char *last_resource_version, unsigned flags,
                     KubeApplyDone done, void *userdata, KubeOp **ret);
/* How many fields of obj an adoption followed by an apply of want removes:
 * there, owned by install.sh's managers (as adoption takes them, see
 * KUBE_APPLY_ADOPT), not set by want, and owned by no manager but those and
 * nap-agent; or -ENOMEM. With drop, they are removed from obj (for `plan
 * --live`, whose dry run cannot take fields over first); without, obj is
 * only read (kube-adopt.c). */
int kube_adopt_leftovers(cJSON *obj, const cJSON *want, unsigned flags, bool drop);

/* For an apply whose object depends on the live one: called once the
 * object was read (an apply with ADOPT, RESYNC or EXISTING; live NULL when
 * it does not exist), before anything is written, with the userdata of the
 * apply. *ret: the object to apply instead (taken over), or NULL for the
 * one given. A negative return fails the apply. */
typedef int (*KubeApplyChoose)(const cJSON *live, cJSON **ret, void *userdata);
/* kube_apply_start() with choose (may be NULL). */
int kube_apply_choose_start(KubeClient *c, const cJSON *obj, const char *last_resource_version, unsigned flags,
                            KubeApplyChoose choose, KubeApplyDone done, void *userdata, KubeOp **ret);

/* ---- watching a collection (kube-watch.c) -----------------------------------
 * A list, kept up to date by watch requests: GET PATH?watch=1&
 * resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=N, one JSON
 * event per line, on the client's loop (no polling). A watch that ends (its
 * timeout, a server going away) or breaks (a connection lost, an API server
 * restarting) is started again from the last resourceVersion seen, after a
 * capped backoff while the server cannot be reached; when the server no
 * longer has that resourceVersion (410 Gone, or an ERROR event of code 410:
 * its watch cache began after it, e.g. after a restart) the collection is
 * listed again from scratch. It gives up only on an answer no retry can
 * change (401, 403, 404, 400). */

typedef struct KubeWatch KubeWatch;

/* Called from the loop (never from inside a kube_watch_* call, and never
 * while a request of w is on the stack: w may be freed here) after the
 * objects changed (a list, or a burst of events, coalesced) or when the
 * watch gave up (kube_watch_error then says why). */
typedef void (*KubeWatchChanged)(KubeWatch *w, void *userdata);

typedef struct KubeWatchOptions {
        void (*trim)(cJSON *obj);    /* applied to each object received, to keep only what is read; or NULL */
        usec_t timeout_usec;         /* timeoutSeconds of one watch request (whole seconds); 0: the default */
        usec_t backoff_initial_usec; /* after a failed list or watch; 0: the default (util/defaults.h) */
        usec_t backoff_max_usec;
} KubeWatchOptions;

typedef struct KubeWatchStats {
        unsigned lists;   /* list requests answered */
        unsigned watches; /* watch requests sent */
        unsigned events;  /* ADDED, MODIFIED, DELETED */
        unsigned expired; /* 410: listed again from scratch */
        unsigned breaks;  /* a watch or list failed (connection, 5xx...) and was retried */
} KubeWatchStats;

/* Starts watching the collection at path (kube_collection_path()), with
 * query (e.g. "labelSelector=app%3Dx", URL-encoded; NULL: none) added to
 * its list and watch requests. opts may be NULL. */
int kube_watch_start(KubeClient *c, const char *path, const char *query, const KubeWatchOptions *opts,
                     KubeWatchChanged changed, void *userdata, KubeWatch **ret);
/* Stops it (its request in flight is dropped, no callback). NULL is a no-op. */
KubeWatch *kube_watch_free(KubeWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(KubeWatch *, kube_watch_free);
/* Whether the objects reflect a list (and the events since). */
bool kube_watch_synced(const KubeWatch *w);
/* The objects, a JSON array owned by w (valid until the next callback),
 * in the order the server listed them, new ones last; without their
 * metadata.managedFields (most of their bytes, read by no watcher), and
 * trimmed by opts->trim. */
const cJSON *kube_watch_items(const KubeWatch *w);
/* The object named name, or NULL. */
const cJSON *kube_watch_find(const KubeWatch *w, const char *name);
/* 0 while it runs; the negative errno (and *ret_err, when not NULL) once it gave up. */
int kube_watch_error(const KubeWatch *w, const KubeError **ret_err);
void kube_watch_stats(const KubeWatch *w, KubeWatchStats *ret);

/* Whether a refused apply (r, err) is a change Kubernetes cannot make in
 * place, so that deleting the object and creating it again is the way:
 * a 422 each of whose causes is one of an immutable field changed (a
 * workload's spec.selector, a Service's clusterIP, a Secret's type), the
 * rollingUpdate parameters an older Deployment keeps under strategy
 * Recreate, or a probe left without its handler once the agent dropped it.
 * A 422 with any other cause is not (a replacement would be refused too),
 * and neither is one without causes. Decided from the Status's causes
 * (reason and field), never from its text. */
bool kube_error_needs_replace(int r, const KubeError *err);

/* Exposed for tests: the one-line message for an HTTP error answer (a
 * Status body, other JSON, text or nothing), into err; returns the errno. */
int kube_error_from_response(long http_status, const char *body, KubeError *err);
