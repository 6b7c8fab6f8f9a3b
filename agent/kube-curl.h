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
