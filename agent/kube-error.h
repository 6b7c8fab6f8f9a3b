/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error mapping of the Kubernetes client (see kube.h for the errnos).
 */
#pragma once

#include <curl/curl.h>
#include <stdbool.h>

#include "kube-http.h"

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
