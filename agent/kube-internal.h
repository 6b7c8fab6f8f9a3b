/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inside of the Kubernetes client, shared by the files of the kube
 * group and by nothing else of the agent (tools/check-includes.py; tests
 * may include it): the transport, the mapping of errors, the pure half of
 * adoption and libcurl opened with dlopen. The rest of the agent sees
 * kube.h, where every request is built.
 */
#pragma once

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "kube.h"
#include "util/dlib.h"

/* ---- the transport (kube-http.c) -------------------------------------------
 *
 * The Kubernetes client's transport: HTTP requests to the kube-apiserver
 * through libcurl's multi interface, driven by sd-event io and timer
 * sources, so that any number of requests run at once on one loop that is
 * never blocked (systemd's importer drives libcurl the same way). Retries of
 * what may pass on a later attempt (connection errors, timeouts, 429, 5xx)
 * are timers too, with capped exponential backoff and jitter, honouring
 * Retry-After, within one deadline per call. HTTP/2 over TLS multiplexes
 * concurrent requests on one kept-alive connection.
 *
 * kube.c builds the verbs (get, apply, delete, list, watch) on this.
 */

typedef enum KubeBody {
        KUBE_BODY_NONE,
        KUBE_BODY_APPLY, /* application/apply-patch+yaml (JSON is valid YAML) */
        KUBE_BODY_MERGE, /* application/merge-patch+json */
        KUBE_BODY_JSON,  /* application/json (POST of a new object) */
        _KUBE_BODY_MAX,
} KubeBody;

/* An HTTP answer, after retries. */
typedef struct KubeResponse {
        long status;
        cJSON *json; /* the body parsed, or NULL */
        char *body;  /* NUL-terminated, never NULL in a delivered response */
        char *path;  /* of the request, with its query (for the error's wording) */
        unsigned attempts;
        double seconds;
} KubeResponse;

void kube_response_clear(KubeResponse *r);

typedef struct KubeCall KubeCall;

/* Called exactly once per call that is not cancelled, from the loop (never
 * from inside kube_call_start). r == 0: an HTTP answer arrived (of any
 * status; after the retries a 5xx or 429 is handed back as it is) and *resp
 * may be taken over (steal its pointers); r < 0: no answer within the
 * deadline, or the connection failed for good, and err says why. The call
 * is freed after the callback returns. */
typedef void (*KubeCallDone)(KubeCall *call, int r, KubeResponse *resp, const KubeError *err, void *userdata);

/* Called for every complete line of a streamed answer of status 200 (a
 * watch: one JSON event per line), with the line without its '\n' (the
 * line may be modified). A negative return stops the call, which then
 * completes with that error. The answer of another status is not streamed:
 * it is delivered whole to the done callback. */
typedef int (*KubeCallLine)(KubeCall *call, const char *line, size_t len, void *userdata);

typedef struct KubeCallOptions {
        KubeBody body_type;
        const char *body;        /* copied; NULL: none */
        KubeCallLine on_line;    /* set: a stream, no retries, no deadline but deadline_usec below */
        usec_t deadline_usec;    /* 0: the client's */
} KubeCallOptions;

/* Starts METHOD path (with its query) against the client's server. The call
 * may be cancelled until its callback has run. ret may be NULL. */
int kube_call_start(KubeClient *c, const char *method, const char *path, const KubeCallOptions *opts,
                    KubeCallDone done, void *userdata, KubeCall **ret);
/* Stops the call at once (its transfer is dropped, its timers removed) and
 * frees it; done is not called. NULL is a no-op. */
void kube_call_cancel(KubeCall *call);

/* Turns an answer >= 400 into errno + err, mentioning the retries. */
int kube_http_failure(const KubeResponse *resp, KubeError *err);
/* Appends to err's message. */
void kube_error_append(KubeError *err, const char *format, ...) _printf_(2, 3);

/* ---- errors (kube-error.c) -------------------------------------------------
 *
 * Error mapping of the Kubernetes client (see kube.h for the errnos).
 */

#define KUBE_RESPONSE_MAX (64u * 1024u * 1024u)

/* kube_error_from_response() for an answer to the request at path (with
 * its query; NULL: unknown): a request about Secrets has its answer cut to
 * the reason and field paths (see kube-error.c). */
int kube_error_from_response_for(long status, const char *path, const char *body, KubeError *err);
/* Whether a request path names Secrets ("/api/v1/namespaces/ns/secrets/x"). */
bool kube_path_is_secret(const char *path);

/* Maps a failed transfer; *ret_retry tells whether another attempt may
 * help. detail is curl's own message, server the URL for the message. */
int kube_error_from_curl(CURLcode cc, const char *detail, const char *server, bool too_big, bool *ret_retry,
                         KubeError *err);

/* ---- adoption, the pure half (kube-adopt.c) -------------------------------
 *
 * Which fields of an object as the server returned it were set by the
 * platform's install.sh, and the merge patch of metadata.managedFields that
 * hands them to nap-agent's Apply entry.
 *
 * install.sh sets them two ways: `kubectl apply --server-side` (manager
 * kubectl, operation Apply): every field of that entry; and, on coturn and
 * the image warmer, `kubectl patch` of the pod template's nodeSelector,
 * tolerations and imagePullSecrets (manager kubectl-patch, an Update): only
 * those, and only when the caller asks (KUBE_APPLY_TAKE_PATCHED). Every
 * other field of every other manager (kubectl-label, kubectl-edit, the rest
 * of a kubectl-patch, controllers) stays theirs. kube.c sends the patch,
 * guarded by the resourceVersion it read: before the first apply of an
 * object (KUBE_APPLY_ADOPT), and again when install.sh re-ran since and
 * left a field that the agent's apply would otherwise leave behind
 * (KUBE_APPLY_RECLAIM).
 */

/* *ret: the patch (caller frees), or NULL when install.sh's managers own
 * nothing to take over. Their fields join nap-agent's Apply entry when it
 * has one (install.sh re-ran after the agent), else a new one. flags:
 * KUBE_APPLY_TAKE_PATCHED or 0. Returns 0 or -ENOMEM. */
int kube_adopt_patch(const cJSON *live, const char *api_version, unsigned flags, cJSON **ret);

/* Whether nap-agent's Apply entry in live's managedFields owns a field that
 * want does not set (a field an earlier apply set, which the next apply of
 * want would remove). */
bool kube_owned_beyond(const cJSON *live, const cJSON *want);

/* ---- libcurl, opened with dlopen (kube-curl.c) -----------------------------
 *
 * libcurl for the Kubernetes client: a client holds kube_curl open (dlib_open
 * when it is made, dlib_close when it is freed; util/dlib.h says why). kube.c
 * calls libcurl only through these sym_ pointers, valid while it is open.
 */

#define KUBE_CURL_SYMBOLS(X)    \
        X(curl_global_init_mem) \
        X(curl_global_cleanup)  \
        X(curl_version_info)    \
        X(curl_easy_init)       \
        X(curl_easy_setopt)     \
        X(curl_easy_getinfo)    \
        X(curl_easy_cleanup)    \
        X(curl_easy_strerror)   \
        X(curl_easy_header)     \
        X(curl_slist_append)    \
        X(curl_slist_free_all)  \
        X(curl_multi_init)      \
        X(curl_multi_cleanup)   \
        X(curl_multi_setopt)    \
        X(curl_multi_add_handle) \
        X(curl_multi_remove_handle) \
        X(curl_multi_socket_action) \
        X(curl_multi_info_read) \
        X(curl_multi_assign)    \
        X(curl_share_init)      \
        X(curl_share_setopt)    \
        X(curl_share_cleanup)

KUBE_CURL_SYMBOLS(DLIB_DECLARE_SYMBOL)

/* The first open runs curl_global_init, the last close curl_global_cleanup
 * and unloads the library (not a libcurl older than 7.87.0: see kube-curl.c). */
extern DLib kube_curl;
