/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl for the Kubernetes client: a client holds kube_curl open (dlib_open
 * when it is made, dlib_close when it is freed; util/dlib.h says why). kube.c
 * calls libcurl only through these sym_ pointers, valid while it is open.
 */
#pragma once

#include <curl/curl.h>

#include "util/dlib.h"

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

KUBE_CURL_SYMBOLS(DLIB_DECLARE_SYMBOL)

/* The first open runs curl_global_init, the last close curl_global_cleanup
 * and unloads the library (not a libcurl older than 7.87.0: see kube-curl.c). */
extern DLib kube_curl;
