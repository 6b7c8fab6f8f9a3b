/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl for the Kubernetes client, opened when a client is made and closed
 * with the last one (util/dlib.h says why). kube.c calls libcurl only through
 * these sym_ pointers, which are valid while a client exists.
 */
#pragma once

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#define KUBE_CURL_SYMBOLS(X)    \
        X(curl_global_init)     \
        X(curl_global_cleanup)  \
        X(curl_version_info)    \
        X(curl_easy_init)       \
        X(curl_easy_setopt)     \
        X(curl_easy_getinfo)    \
        X(curl_easy_perform)    \
        X(curl_easy_cleanup)    \
        X(curl_easy_strerror)   \
        X(curl_easy_header)     \
        X(curl_slist_append)    \
        X(curl_slist_free_all)

#define KUBE_CURL_DECLARE(f) extern __typeof__(f) *sym_##f;
KUBE_CURL_SYMBOLS(KUBE_CURL_DECLARE)
#undef KUBE_CURL_DECLARE

/* Opens libcurl (and runs curl_global_init) for one more user. On failure err
 * says why in one line. */
int kube_curl_open(char *err, size_t err_size);
/* The last user's close runs curl_global_cleanup and unloads the library
 * (not a libcurl older than 7.87.0: see kube-curl.c). */
void kube_curl_close(void);
bool kube_curl_is_open(void);
