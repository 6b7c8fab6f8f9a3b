/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Errors of the Kubernetes client: HTTP statuses and curl failures become a
 * negative errno plus one human line in a KubeError (kube.h says which).
 * This is where a library's error meets the agent's, so it is the only
 * place that maps them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kube-error.h"
#include "util/json.h"

void kube_error_clear(KubeError *err) {
        if (err)
                *err = (KubeError) { 0 };
}

static void error_vset(KubeError *err, long status, const char *reason, const char *format, va_list ap)
        _printf_(4, 0);
static void error_vset(KubeError *err, long status, const char *reason, const char *format, va_list ap) {
        if (!err)
                return;
        err->http_status = status;
        snprintf(err->reason, sizeof err->reason, "%s", reason ? reason : "");
        vsnprintf(err->message, sizeof err->message, format, ap);
}

int kube_error_setf(KubeError *err, int error, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        error_vset(err, 0, NULL, format, ap);
        va_end(ap);
        return error;
}

static void error_set_http(KubeError *err, long status, const char *reason, const char *format, ...)
        _printf_(4, 5);
static void error_set_http(KubeError *err, long status, const char *reason, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        error_vset(err, status, reason, format, ap);
        va_end(ap);
}

void kube_error_append(KubeError *err, const char *format, ...) {
        va_list ap;
        size_t n;

        if (!err)
                return;
        n = strlen(err->message);
        va_start(ap, format);
        vsnprintf(err->message + n, sizeof err->message - n, format, ap);
        va_end(ap);
}

static int errno_from_status(long status) {
        switch (status) {
        case 401:
        case 403:
                return -EACCES;
        case 404:
                return -ENOENT;
        case 409:
                return -EEXIST;
        case 400:
        case 422:
                return -EINVAL;
        case 410:
                return -ESTALE;
        case 415:
                return -EOPNOTSUPP;
        case 429:
                return -EBUSY;
        default:
                return status >= 400 && status < 500 ? -EINVAL : -EIO;
        }
}

int kube_error_from_response(long status, const char *body, KubeError *err) {
        _cleanup_(cJSON_Deletep) cJSON *json = body ? cJSON_Parse(body) : NULL;
        const char *message = NULL, *reason = NULL;
        char text[256] = "";

        if (json) {
                message = json_string(json, "message");
                reason = json_string(json, "reason");
        } else if (!strempty(body)) {
                /* Not from the apiserver itself (a proxy?): its first line. */
                size_t n = strcspn(body, "\r\n");
                snprintf(text, sizeof text, "%.*s", (int) (n < 200 ? n : 200), body);
                message = text;
        }

        if (status == 401)
                error_set_http(err, status, reason, "%s: the kubeconfig's credentials were not accepted (HTTP 401)",
                               message ? message : "Unauthorized");
        else if (status == 403)
                error_set_http(err, status, reason, "%s (HTTP 403)", message ? message : "Forbidden");
        else if (message)
                error_set_http(err, status, reason, "%s (HTTP %ld)", message, status);
        else
                error_set_http(err, status, reason, "HTTP %ld without a message", status);
        return errno_from_status(status);
}

int kube_http_failure(const KubeResponse *resp, KubeError *err) {
        int r = kube_error_from_response(resp->status, resp->body, err);

        if (resp->attempts > 1)
                kube_error_append(err, " (gave up after %u attempts in %.1f s)", resp->attempts, resp->seconds);
        return r;
}

int kube_error_from_curl(CURLcode cc, const char *detail, const char *server, bool too_big, bool *ret_retry,
                         KubeError *err) {
        *ret_retry = false;
        switch (cc) {
        case CURLE_OPERATION_TIMEDOUT:
                *ret_retry = true;
                return kube_error_setf(err, -ETIMEDOUT, "no answer from '%s' in time: %s", server, detail);
        case CURLE_COULDNT_CONNECT:
                *ret_retry = true;
                return kube_error_setf(err, -ECONNREFUSED, "cannot connect to '%s': %s", server, detail);
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                *ret_retry = true;
                return kube_error_setf(err, -EHOSTUNREACH, "cannot resolve the host of '%s': %s", server, detail);
        case CURLE_GOT_NOTHING:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                *ret_retry = true;
                return kube_error_setf(err, -ECONNRESET, "connection to '%s' lost: %s", server, detail);
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_CLIENTCERT:
                return kube_error_setf(err, -EPROTO, "TLS with '%s' failed: %s", server, detail);
        default:
                if (cc == CURLE_WRITE_ERROR && too_big)
                        return kube_error_setf(err, -EFBIG, "answer from '%s' larger than %u bytes", server,
                                               KUBE_RESPONSE_MAX);
                return kube_error_setf(err, -EIO, "request to '%s' failed: %s", server, detail);
        }
}
