/* SPDX-License-Identifier: Apache-2.0 */
/*
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
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "kube.h"

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
        KubeCallLine on_line;    /* set: a stream, no retries, no deadline but deadline_ms below */
        unsigned deadline_ms;    /* 0: the client's */
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
