/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Errors of the Kubernetes client: HTTP statuses and curl failures become a
 * negative errno plus one human line in a KubeError (kube.h says which).
 * This is where a library's error meets the agent's, so it is the only
 * place that maps them, and where a server's text passes the redaction step
 * (util/redact.h) before anything can log, store or print it. The answer
 * to a request about a Secret is cut to its reason and field paths: a
 * server, an admission webhook or a proxy may echo the request body, which
 * holds the Secret's data, in its message.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kube-internal.h"
#include "util/json.h"
#include "util/redact.h"

void kube_error_clear(KubeError *err) {
        if (err)
                *err = (KubeError) { 0 };
}

static void error_vset(KubeError *err, long status, const char *reason, const char *format, va_list ap)
        _printf_(4, 0);
static void error_vset(KubeError *err, long status, const char *reason, const char *format, va_list ap) {
        _cleanup_free_ char *raw = NULL, *clean = NULL;

        if (!err)
                return;
        err->http_status = status;
        err->n_causes = 0;
        err->causes_cut = false;
        snprintf(err->reason, sizeof err->reason, "%s", reason ? reason : "");
        redact_buf(err->reason, sizeof err->reason);
        /* Redacted whole, then cut to size: a secret cut in half by the
         * size of the message would no longer be recognised. */
        if (vasprintf(&raw, format, ap) < 0)
                raw = NULL;
        clean = raw ? redact(raw) : NULL;
        if (raw)
                explicit_bzero(raw, strlen(raw));
        snprintf(err->message, sizeof err->message, "%s", clean ? clean : "out of memory");
}

int kube_error_setf(KubeError *err, int error, const char *format, ...) {
        va_list ap;

        assert(format);

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
        _cleanup_free_ char *raw = NULL, *clean = NULL;
        va_list ap;
        size_t n;

        assert(format);

        if (!err)
                return;
        va_start(ap, format);
        if (vasprintf(&raw, format, ap) < 0)
                raw = NULL;
        va_end(ap);
        clean = raw ? redact(raw) : NULL;
        if (raw)
                explicit_bzero(raw, strlen(raw));
        n = strlen(err->message);
        snprintf(err->message + n, sizeof err->message - n, "%s", clean ? clean : "");
}

/* The Status's details.causes, reason and field of each (the field paths
 * name fields, never values; they pass the redaction step all the same). */
static void error_set_causes(KubeError *err, const cJSON *status) {
        const cJSON *c;

        if (!err)
                return;
        err->n_causes = 0;
        err->causes_cut = false;
        cJSON_ArrayForEach(c, JSON_GET(status, "details", "causes")) {
                const char *reason = json_string(c, "reason"), *field = json_string(c, "field");
                KubeCause *k;

                if (err->n_causes == KUBE_ERROR_CAUSES_MAX) {
                        err->causes_cut = true;
                        break;
                }
                k = &err->causes[err->n_causes++];
                snprintf(k->reason, sizeof k->reason, "%s", reason ? reason : "");
                snprintf(k->field, sizeof k->field, "%s", field ? field : "");
                redact_buf(k->reason, sizeof k->reason);
                redact_buf(k->field, sizeof k->field);
        }
}

/* Whether field is PREFIX[N]SUFFIX: an element of a list, any index. */
static bool field_is_item(const char *field, const char *prefix, const char *suffix) {
        size_t n = strlen(prefix);

        if (strncmp(field, prefix, n) != 0 || field[n] != '[')
                return false;
        field += n + 1;
        if (!isdigit((unsigned char) *field))
                return false;
        field += strspn(field, "0123456789");
        return *field == ']' && streq(field + 1, suffix);
}

static bool is_probe(const char *field) {
        static const char *const lists[] = { "spec.template.spec.containers", "spec.template.spec.initContainers" };
        static const char *const probes[] = { ".livenessProbe", ".readinessProbe", ".startupProbe" };

        for (size_t i = 0; i < ELEMENTSOF(lists); i++)
                for (size_t k = 0; k < ELEMENTSOF(probes); k++)
                        if (field_is_item(field, lists[i], probes[k]))
                                return true;
        return false;
}

/* A cause the server gives for a change it cannot make in place. */
static bool cause_needs_replace(const KubeCause *c) {
        if (streq(c->reason, "FieldValueInvalid"))
                /* immutable: a workload's selector, a Service's cluster IP(s), a Secret's type */
                return streq(c->field, "spec.selector") || streq(c->field, "spec.clusterIP") ||
                       field_is_item(c->field, "spec.clusterIPs", "") || streq(c->field, "type");
        if (streq(c->reason, "FieldValueForbidden"))
                /* an older coturn's RollingUpdate parameters under strategy Recreate */
                return streq(c->field, "spec.strategy.rollingUpdate");
        if (streq(c->reason, "FieldValueRequired"))
                /* a probe the agent no longer sets: apply removes its handler, the
                 * defaulted fields stay, and the rest is refused */
                return is_probe(c->field);
        return false;
}

bool kube_error_needs_replace(int r, const KubeError *err) {
        if (r != -EINVAL || !err || err->http_status != 422 || err->n_causes == 0 || err->causes_cut)
                return false;
        for (unsigned i = 0; i < err->n_causes; i++)
                if (!cause_needs_replace(&err->causes[i]))
                        return false;
        return true;
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

/* Whether the request path (with its query) names Secrets: the resource
 * segment after /api/v1 or /apis/GROUP/VERSION, and after a namespace. */
bool kube_path_is_secret(const char *path) {
        char seg[5][64];
        size_t n = 0;

        assert(path);

        for (const char *p = path; p && *p && *p != '?' && n < ELEMENTSOF(seg);) {
                size_t l;
                p += *p == '/';
                l = strcspn(p, "/?");
                snprintf(seg[n++], sizeof seg[0], "%.*s", (int) (l < sizeof seg[0] ? l : sizeof seg[0] - 1), p);
                p += l;
        }
        size_t i = n > 0 && streq(seg[0], "api") ? 2 : n > 0 && streq(seg[0], "apis") ? 3 : n;
        if (i < n && streq(seg[i], "namespaces"))
                i += 2;
        return i < n && streq(seg[i], "secrets");
}

/* The Status of a refused request about a Secret, reduced to what cannot
 * hold its data: the object's name, the reason and each cause's field path
 * and reason (a cause's message only when it quotes nothing). */
static void secret_status(long status, const cJSON *json, KubeError *err) {
        const cJSON *details = cJSON_GetObjectItemCaseSensitive(json, "details"), *c;
        const char *name = json_string(details, "name"), *reason = json_string(json, "reason");
        char text[384];
        size_t n, i = 0;

        n = (size_t) snprintf(text, sizeof text, "Secret%s%s%s: %s", name ? " '" : "", name ? name : "",
                              name ? "'" : "", reason ? reason : "refused");
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(details, "causes")) {
                const char *field = json_string(c, "field"), *why = json_string(c, "reason");
                const char *msg = json_string(c, "message");
                bool safe = msg && strlen(msg) < 80 && !strpbrk(msg, "\"':`\\");
                if (n >= sizeof text)
                        break;
                n += (size_t) snprintf(text + n, sizeof text - n, "%s %s%s%s%s", i++ == 0 ? ":" : ",",
                                       field ? field : "?", why ? " (" : "", why ? why : "", why ? ")" : "");
                if (safe && n < sizeof text)
                        n += (size_t) snprintf(text + n, sizeof text - n, " %s", msg);
        }
        error_set_http(err, status, reason, "%s (HTTP %ld; the server's message is not shown: it may quote the "
                       "Secret's data)%s", text, status,
                       status == 403 ? "; if RBAC refused it, `nap-agent doctor` lists what the kubeconfig's user "
                                       "may not do" : "");
}

int kube_error_from_response_for(long status, const char *path, const char *body, KubeError *err) {
        _cleanup_(json_delete_wipedp) cJSON *json = body ? cJSON_Parse(body) : NULL;
        const char *message = NULL, *reason = NULL;
        char text[256] = "";

        if (json) {
                message = json_string(json, "message");
                reason = json_string(json, "reason");
        }
        if (path && kube_path_is_secret(path)) {
                secret_status(status, cJSON_IsObject(json) ? json : NULL, err);
                error_set_causes(err, json);
                return errno_from_status(status);
        }
        if (!json && !strempty(body)) {
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
        error_set_causes(err, json);
        explicit_bzero(text, sizeof text);
        return errno_from_status(status);
}

int kube_error_from_response(long status, const char *body, KubeError *err) {
        return kube_error_from_response_for(status, NULL, body, err);
}

int kube_http_failure(const KubeResponse *resp, KubeError *err) {
        int r;

        assert(resp);

        r = kube_error_from_response_for(resp->status, resp->path, resp->body, err);
        if (resp->attempts > 1)
                kube_error_append(err, " (gave up after %u attempts in %.1f s)", resp->attempts, resp->seconds);
        return r;
}

int kube_error_from_curl(CURLcode cc, const char *detail, const char *server, bool too_big, bool *ret_retry,
                         KubeError *err) {
        assert(detail);
        assert(server);
        assert(ret_retry);

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
