/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error mapping of the Kubernetes client (see kube.h for the errnos).
 */
#pragma once

#include <curl/curl.h>
#include <stdbool.h>

#include "kube-http.h"

#define KUBE_RESPONSE_MAX (64u * 1024u * 1024u)

/* Maps a failed transfer; *ret_retry tells whether another attempt may
 * help. detail is curl's own message, server the URL for the message. */
int kube_error_from_curl(CURLcode cc, const char *detail, const char *server, bool too_big, bool *ret_retry,
                         KubeError *err);
