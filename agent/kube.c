/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes client over libcurl and cJSON; see kube.h for the contract.
 * This file holds the transport (one reused easy handle, retries, error
 * mapping) and the verbs; kubeconfig.c reads the connection settings.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kube.h"
#include "kube-curl.h"
#include "kube-adopt.h"
#include "kubeconfig.h"
#include "nap-config.h"
#include "util/log.h"
#include "util/strbuf.h"

#define FIELD_MANAGER KUBE_FIELD_MANAGER
#define RESPONSE_MAX (64u * 1024u * 1024u)

struct KubeClient {
        bool curl_open; /* this client holds libcurl open */
        CURL *curl;
        KubeConfig *config;
        KubeClientOptions opts;
        struct curl_slist *headers[4]; /* by RequestBody */
        char errbuf[CURL_ERROR_SIZE];
        StrBuf response;
        bool response_too_big;
        unsigned seed;
        KubeStats stats;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete);

typedef enum RequestBody {
        BODY_NONE,
        BODY_APPLY, /* application/apply-patch+yaml (JSON is valid YAML) */
        BODY_MERGE, /* application/merge-patch+json */
        BODY_JSON,  /* application/json (POST of a new object) */
} RequestBody;

/* An HTTP answer, after retries. */
typedef struct Response {
        long status;
        cJSON *json; /* parsed body, or NULL */
        char *body;
        unsigned attempts;
        double seconds;
} Response;

static void response_clear(Response *r) {
        cJSON_Delete(r->json);
        free(r->body);
        *r = (Response) { 0 };
}

/* ---- errors ------------------------------------------------------------ */

void kube_error_clear(KubeError *err) {
        if (err)
                *err = (KubeError) { 0 };
}

static void error_vset(KubeError *err, long status, const char *reason, const char *format, va_list ap)
        __attribute__((format(printf, 4, 0)));
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

static void error_append(KubeError *err, const char *format, ...) _printf_(2, 3);
static void error_append(KubeError *err, const char *format, ...) {
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
        case 415:
                return -EOPNOTSUPP;
        case 429:
                return -EBUSY;
        default:
                return status >= 400 && status < 500 ? -EINVAL : -EIO;
        }
}

static const char *json_string(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
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
                error_set_http(err, status, reason, "%s (HTTP 403)",
                               message ? message : "Forbidden");
        else if (message)
                error_set_http(err, status, reason, "%s (HTTP %ld)", message, status);
        else
                error_set_http(err, status, reason, "HTTP %ld without a message", status);
        return errno_from_status(status);
}

/* ---- client ---------------------------------------------------------- */

static size_t write_cb(char *ptr, size_t size, size_t n, void *userdata) {
        KubeClient *c = userdata;

        if (c->response.len + n > RESPONSE_MAX) {
                c->response_too_big = true;
                return 0;
        }
        strbuf_putn(&c->response, ptr, n);
        return size * n;
}

static int xferinfo_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
        KubeClient *c = userdata;
        return c->opts.cancelled && c->opts.cancelled(c->opts.userdata) ? 1 : 0;
}

static void slist_wipe_free(struct curl_slist *l) {
        for (struct curl_slist *i = l; i; i = i->next)
                explicit_bzero(i->data, strlen(i->data));
        sym_curl_slist_free_all(l);
}

KubeClient *kube_client_free(KubeClient *c) {
        if (!c)
                return NULL;
        if (c->curl_open) {
                if (c->curl)
                        sym_curl_easy_cleanup(c->curl);
                for (size_t i = 0; i < ELEMENTSOF(c->headers); i++)
                        slist_wipe_free(c->headers[i]);
                dlib_close(&kube_curl);
        }
        kubeconfig_free(c->config);
        strbuf_free(&c->response);
        free(c);
        return NULL;
}

static int build_headers(KubeClient *c) {
        static const char *const content_type[] = {
                [BODY_NONE] = NULL,
                [BODY_APPLY] = "Content-Type: application/apply-patch+yaml",
                [BODY_MERGE] = "Content-Type: application/merge-patch+json",
                [BODY_JSON] = "Content-Type: application/json",
        };

        for (size_t i = 0; i < ELEMENTSOF(c->headers); i++) {
                struct curl_slist *l = NULL, *n;
                l = sym_curl_slist_append(l, "Accept: application/json");
                if (l && (n = sym_curl_slist_append(l, "Expect:")))
                        l = n;
                else
                        goto oom;
                if (content_type[i]) {
                        if (!(n = sym_curl_slist_append(l, content_type[i])))
                                goto oom;
                        l = n;
                }
                if (c->config->token) {
                        _cleanup_free_ char *h = NULL;
                        if (asprintf(&h, "Authorization: Bearer %s", c->config->token) < 0)
                                goto oom;
                        n = sym_curl_slist_append(l, h);
                        explicit_bzero(h, strlen(h));
                        if (!n)
                                goto oom;
                        l = n;
                }
                c->headers[i] = l;
                continue;
        oom:
                slist_wipe_free(l);
                return -ENOMEM;
        }
        return 0;
}

static int setup_curl(KubeClient *c) {
        KubeConfig *k = c->config;
        CURL *h = c->curl;
        bool ok = true;

        ok = ok && sym_curl_easy_setopt(h, CURLOPT_USERAGENT, "nap-agent/" PACKAGE_VERSION) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) c->opts.connect_timeout_ms) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_WRITEDATA, c) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_XFERINFODATA, c) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, k->insecure_skip_tls_verify ? 0L : 1L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, k->insecure_skip_tls_verify ? 0L : 2L) == CURLE_OK;
        if (k->ca.size > 0) {
                struct curl_blob b = { .data = k->ca.data, .len = k->ca.size, .flags = CURL_BLOB_COPY };
                ok = ok && sym_curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b) == CURLE_OK;
        }
        if (k->client_cert.size > 0) {
                struct curl_blob cert = { .data = k->client_cert.data, .len = k->client_cert.size,
                                          .flags = CURL_BLOB_COPY };
                struct curl_blob key = { .data = k->client_key.data, .len = k->client_key.size,
                                         .flags = CURL_BLOB_COPY };
                ok = ok && sym_curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM") == CURLE_OK;
                ok = ok && sym_curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert) == CURLE_OK;
                ok = ok && sym_curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM") == CURLE_OK;
                ok = ok && sym_curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key) == CURLE_OK;
        }
        return ok ? 0 : -EOPNOTSUPP;
}

int kube_client_new(const char *kubeconfig_path, const KubeClientOptions *opts, KubeClient **ret, KubeError *err) {
        _cleanup_(kube_client_freep) KubeClient *c = NULL;
        char why[256];
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        if (opts)
                c->opts = *opts;
        if (c->opts.request_timeout_ms == 0)
                c->opts.request_timeout_ms = 10000;
        if (c->opts.connect_timeout_ms == 0)
                c->opts.connect_timeout_ms = 5000;
        if (c->opts.deadline_ms == 0)
                c->opts.deadline_ms = 30000;
        if (c->opts.backoff_initial_ms == 0)
                c->opts.backoff_initial_ms = 200;
        if (c->opts.backoff_max_ms == 0)
                c->opts.backoff_max_ms = 5000;
        c->seed = (unsigned) time(NULL) ^ (unsigned) getpid() ^ (unsigned) (uintptr_t) c;

        r = kubeconfig_load(kubeconfig_path, &c->config, err);
        if (r < 0)
                return r;
        r = dlib_open(&kube_curl, why, sizeof why);
        if (r < 0)
                return kube_error_setf(err, r, "%s", why);
        c->curl_open = true;
        c->curl = sym_curl_easy_init();
        if (!c->curl)
                return kube_error_setf(err, -ENOMEM, "libcurl could not create a handle");
        r = build_headers(c);
        if (r < 0)
                return r;
        r = setup_curl(c);
        if (r < 0)
                return kube_error_setf(err, r, "libcurl does not support the TLS options for kubeconfig '%s'",
                                       kubeconfig_path);

        *ret = TAKE_PTR(c);
        return 0;
}

const char *kube_client_server(const KubeClient *c) {
        return c->config->server;
}

void kube_client_stats(const KubeClient *c, KubeStats *ret) {
        *ret = c->stats;
}

/* ---- transport ----------------------------------------------------------- */

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static bool is_cancelled(KubeClient *c) {
        return c->opts.cancelled && c->opts.cancelled(c->opts.userdata);
}

/* Sleeps ms in slices, returning -ECANCELED early when asked to stop. */
static int sleep_ms(KubeClient *c, uint64_t ms) {
        for (uint64_t end = now_ms() + ms, t; (t = now_ms()) < end;) {
                uint64_t slice = end - t < 50 ? end - t : 50;
                struct timespec ts = { .tv_sec = 0, .tv_nsec = (long) slice * 1000000L };
                if (is_cancelled(c))
                        return -ECANCELED;
                nanosleep(&ts, NULL);
        }
        return is_cancelled(c) ? -ECANCELED : 0;
}

/* Capped exponential backoff with "equal jitter": half fixed, half random. */
static uint64_t backoff_ms(KubeClient *c, unsigned attempt) {
        uint64_t d = c->opts.backoff_initial_ms;

        for (unsigned i = 1; i < attempt && d < c->opts.backoff_max_ms; i++)
                d *= 2;
        if (d > c->opts.backoff_max_ms)
                d = c->opts.backoff_max_ms;
        return d / 2 + (uint64_t) rand_r(&c->seed) % (d / 2 + 1);
}

/* Retry-After in seconds (the HTTP-date form is not used by the apiserver). */
static long retry_after_ms(KubeClient *c) {
        struct curl_header *h;
        char *end;
        long s;

        if (sym_curl_easy_header(c->curl, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
                return -1;
        s = strtol(h->value, &end, 10);
        if (end == h->value || s < 0 || s > 3600)
                return -1;
        return s * 1000;
}

static bool status_retryable(long status, unsigned attempt) {
        /* A 500 from the apiserver is mostly deterministic (e.g. a Service
         * port without protocol on 1.20): try it twice, not until the deadline. */
        if (status == 500)
                return attempt < 2;
        return status == 429 || status == 502 || status == 503 || status == 504;
}

/* Maps a curl failure; *retry tells whether another attempt may help. */
static int transport_error(KubeClient *c, CURLcode cc, bool *retry, KubeError *err) {
        const char *detail = c->errbuf[0] ? c->errbuf : sym_curl_easy_strerror(cc);
        const char *server = c->config->server;

        *retry = false;
        switch (cc) {
        case CURLE_OPERATION_TIMEDOUT:
                *retry = true;
                return kube_error_setf(err, -ETIMEDOUT, "no answer from '%s' in time: %s", server, detail);
        case CURLE_COULDNT_CONNECT:
                *retry = true;
                return kube_error_setf(err, -ECONNREFUSED, "cannot connect to '%s': %s", server, detail);
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                *retry = true;
                return kube_error_setf(err, -EHOSTUNREACH, "cannot resolve the host of '%s': %s", server, detail);
        case CURLE_GOT_NOTHING:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                *retry = true;
                return kube_error_setf(err, -ECONNRESET, "connection to '%s' lost: %s", server, detail);
        case CURLE_ABORTED_BY_CALLBACK:
                return kube_error_setf(err, -ECANCELED, "request to '%s' cancelled", server);
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
                if (cc == CURLE_WRITE_ERROR && c->response_too_big)
                        return kube_error_setf(err, -EFBIG, "answer from '%s' larger than %u bytes", server,
                                               RESPONSE_MAX);
                return kube_error_setf(err, -EIO, "request to '%s' failed: %s", server, detail);
        }
}

static CURLcode perform_once(KubeClient *c, const char *method, const char *url, RequestBody body_type,
                             const char *body, long timeout_ms, long *ret_status) {
        CURL *h = c->curl;
        long connects = 0;
        CURLcode cc;

        strbuf_free(&c->response);
        c->response = (StrBuf) { 0 };
        c->response_too_big = false;
        c->errbuf[0] = 0;

        sym_curl_easy_setopt(h, CURLOPT_URL, url);
        sym_curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
        sym_curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers[body_type]);
        sym_curl_easy_setopt(h, CURLOPT_HTTPGET, 1L); /* resets any body of the previous request */
        if (body) {
                sym_curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
                sym_curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body));
        }
        sym_curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, streq(method, "GET") ? NULL : method);

        cc = sym_curl_easy_perform(h);
        c->stats.requests++;
        if (sym_curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK)
                c->stats.connections += (unsigned long) connects;
        if (cc == CURLE_OK)
                sym_curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, ret_status);
        return cc;
}

/* Sends one request, retrying what may pass on a later attempt within the
 * deadline. Returns 0 with *ret set when an HTTP answer arrived (of any
 * status: after retries a 5xx or 429 is handed back as it is), else a
 * negative errno with err set. path includes the query. */
static int call(KubeClient *c, const char *method, const char *path, RequestBody body_type, const char *body,
                Response *ret, KubeError *err) {
        _cleanup_free_ char *url = NULL;
        uint64_t start = now_ms(), deadline = start + c->opts.deadline_ms;
        unsigned attempt;
        int r = 0;

        if (asprintf(&url, "%s%s", c->config->server, path) < 0)
                return -ENOMEM;

        for (attempt = 1;; attempt++) {
                uint64_t t = now_ms(), delay;
                long status = 0, timeout, after = -1;
                bool retry;
                CURLcode cc;

                if (is_cancelled(c))
                        return kube_error_setf(err, -ECANCELED, "%s %s cancelled", method, path);
                timeout = (long) (deadline - t < c->opts.request_timeout_ms ? deadline - t
                                                                            : c->opts.request_timeout_ms);
                cc = perform_once(c, method, url, body_type, body, timeout, &status);
                log_debug("kube: %s %s -> %ld (curl %d, attempt %u)", method, path, status, (int) cc, attempt);

                if (cc == CURLE_OK) {
                        if (!status_retryable(status, attempt))
                                break;
                        after = status == 429 || status == 503 ? retry_after_ms(c) : -1;
                        retry = true;
                } else {
                        r = transport_error(c, cc, &retry, err);
                        if (!retry)
                                goto fail;
                }

                delay = after >= 0 ? (uint64_t) after : backoff_ms(c, attempt);
                if (now_ms() + delay >= deadline) {
                        if (cc == CURLE_OK)
                                break; /* hand the last answer back */
                        goto fail;
                }
                r = sleep_ms(c, delay);
                if (r < 0)
                        return kube_error_setf(err, r, "%s %s cancelled", method, path);
        }

        *ret = (Response) {
                .status = 0,
                .attempts = attempt,
                .seconds = (double) (now_ms() - start) / 1000.0,
        };
        sym_curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &ret->status);
        ret->body = strbuf_steal(&c->response);
        if (!ret->body)
                return -ENOMEM;
        ret->json = cJSON_Parse(ret->body);
        return 0;

fail:
        if (attempt > 1)
                error_append(err, " (gave up after %u attempts in %.1f s)", attempt,
                             (double) (now_ms() - start) / 1000.0);
        return r;
}

/* Turns an answer >= 400 into errno + err, mentioning the retries. */
static int http_failure(const Response *resp, KubeError *err) {
        int r = kube_error_from_response(resp->status, resp->body, err);

        if (resp->attempts > 1)
                error_append(err, " (gave up after %u attempts in %.1f s)", resp->attempts, resp->seconds);
        return r;
}

/* ---- objects and paths ----------------------------------------------------- */

typedef struct KindInfo {
        const char *api_version;
        const char *kind;
        const char *resource;
        bool namespaced;
} KindInfo;

static const KindInfo kinds[] = {
        { "v1", "Namespace", "namespaces", false },
        { "v1", "Secret", "secrets", true },
        { "v1", "Service", "services", true },
        { "v1", "ConfigMap", "configmaps", true },
        { "v1", "ServiceAccount", "serviceaccounts", true },
        { "apps/v1", "Deployment", "deployments", true },
        { "apps/v1", "StatefulSet", "statefulsets", true },
        { "apps/v1", "DaemonSet", "daemonsets", true },
        { "coordination.k8s.io/v1", "Lease", "leases", true },
};

int kube_ref_from_object(const cJSON *obj, KubeRef *ret) {
        const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        const cJSON *ns = cJSON_GetObjectItemCaseSensitive(metadata, "namespace");
        KubeRef ref = {
                .api_version = json_string(obj, "apiVersion"),
                .kind = json_string(obj, "kind"),
                .namespace = cJSON_IsString(ns) ? ns->valuestring : NULL,
                .name = json_string(metadata, "name"),
        };

        if (!ref.api_version || !ref.kind || !ref.name || (ns && !cJSON_IsString(ns) && !cJSON_IsNull(ns)))
                return -EINVAL;
        *ret = ref;
        return 0;
}

/* RFC 1123 subdomain (object names) or label (namespaces). */
static bool valid_name(const char *s, bool label) {
        size_t n = strlen(s);

        if (n == 0 || n > (label ? 63u : 253u))
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
                if (!alnum && (i == 0 || i == n - 1 || !(ch == '-' || (ch == '.' && !label))))
                        return false;
        }
        return true;
}

int kube_path(const KubeRef *ref, char **ret) {
        const KindInfo *k = NULL;
        char *p;
        int n;

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
                if (streq(kinds[i].api_version, ref->api_version) && streq(kinds[i].kind, ref->kind))
                        k = &kinds[i];
        if (!k)
                return -EOPNOTSUPP;
        if (!valid_name(ref->name, false) || (k->namespaced != !strempty(ref->namespace)) ||
            (k->namespaced && !valid_name(ref->namespace, true)))
                return -EINVAL;

        if (k->namespaced)
                n = asprintf(&p, "/%s/%s/namespaces/%s/%s/%s", strchr(k->api_version, '/') ? "apis" : "api",
                             k->api_version, ref->namespace, k->resource, ref->name);
        else
                n = asprintf(&p, "/%s/%s/%s/%s", strchr(k->api_version, '/') ? "apis" : "api", k->api_version,
                             k->resource, ref->name);
        if (n < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static int ref_path(const KubeRef *ref, char **ret, KubeError *err) {
        int r = kube_path(ref, ret);

        if (r == -EOPNOTSUPP)
                return kube_error_setf(err, r, "kind '%s' of apiVersion '%s' is not supported", ref->kind,
                                       ref->api_version);
        if (r == -EINVAL)
                return kube_error_setf(err, r, "%s '%s%s%s': bad name or namespace", ref->kind,
                                       strempty(ref->namespace) ? "" : ref->namespace,
                                       strempty(ref->namespace) ? "" : "/", ref->name);
        return r;
}

/* ---- GET and DELETE ------------------------------------------------------- */

/* GET path: 0 with *ret (NULL when the object does not exist). */
static int get_optional(KubeClient *c, const char *path, cJSON **ret, KubeError *err) {
        _cleanup_(response_clear) Response resp = { 0 };
        int r;

        r = call(c, "GET", path, BODY_NONE, NULL, &resp, err);
        if (r < 0)
                return r;
        if (resp.status == 404) {
                *ret = NULL;
                return 0;
        }
        if (resp.status != 200)
                return http_failure(&resp, err);
        if (!cJSON_IsObject(resp.json))
                return kube_error_setf(err, -EBADMSG, "GET %s: the answer is not a JSON object", path);
        *ret = TAKE_PTR(resp.json);
        return 0;
}

int kube_get(KubeClient *c, const KubeRef *ref, cJSON **ret, KubeError *err) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = ref_path(ref, &path, err);
        if (r < 0)
                return r;
        return kube_get_path(c, path, ret, err);
}

int kube_delete(KubeClient *c, const KubeRef *ref, bool *ret_existed, KubeError *err) {
        _cleanup_free_ char *path = NULL, *query = NULL;
        _cleanup_(response_clear) Response resp = { 0 };
        int r;

        r = ref_path(ref, &path, err);
        if (r < 0)
                return r;
        if (asprintf(&query, "%s?propagationPolicy=Background", path) < 0)
                return -ENOMEM;
        r = call(c, "DELETE", query, BODY_NONE, NULL, &resp, err);
        if (r < 0)
                return r;
        if (resp.status != 200 && resp.status != 202 && resp.status != 404)
                return http_failure(&resp, err);
        if (ret_existed)
                *ret_existed = resp.status != 404;
        return 0;
}

int kube_get_path(KubeClient *c, const char *path, cJSON **ret, KubeError *err) {
        _cleanup_(response_clear) Response resp = { 0 };
        int r;

        r = call(c, "GET", path, BODY_NONE, NULL, &resp, err);
        if (r < 0)
                return r;
        if (resp.status != 200)
                return http_failure(&resp, err);
        if (!cJSON_IsObject(resp.json))
                return kube_error_setf(err, -EBADMSG, "GET %s: the answer is not a JSON object", path);
        *ret = TAKE_PTR(resp.json);
        return 0;
}

int kube_create_path(KubeClient *c, const char *path, const cJSON *body, cJSON **ret, KubeError *err) {
        _cleanup_(response_clear) Response resp = { 0 };
        _cleanup_free_ char *text = cJSON_PrintUnformatted(body);
        int r;

        if (!text)
                return -ENOMEM;
        r = call(c, "POST", path, BODY_JSON, text, &resp, err);
        if (r < 0)
                return r;
        if (resp.status != 200 && resp.status != 201)
                return http_failure(&resp, err);
        if (!cJSON_IsObject(resp.json))
                return kube_error_setf(err, -EBADMSG, "POST %s: the answer is not a JSON object", path);
        *ret = TAKE_PTR(resp.json);
        return 0;
}

/* ---- adoption -------------------------------------------------------------- */

/* Takes the fields of kubectl & co. over (see kube_apply). *live is the
 * object as read; it is replaced by the object after the transfer (or NULL
 * when it vanished meanwhile). */
static int adopt(KubeClient *c, const char *path, const char *api_version, bool dry_run, cJSON **live,
                 bool *ret_adopted, KubeError *err) {
        _cleanup_free_ char *query = NULL;
        int r;

        if (asprintf(&query, "%s?fieldManager=" FIELD_MANAGER, path) < 0)
                return -ENOMEM;

        for (unsigned attempt = 0; attempt < 3; attempt++) {
                _cleanup_(cJSON_Deletep) cJSON *patch = NULL;
                _cleanup_(response_clear) Response resp = { 0 };
                _cleanup_free_ char *body = NULL;

                if (!*live) {
                        *ret_adopted = false;
                        return 0;
                }
                r = kube_adopt_patch(*live, api_version, &patch);
                if (r < 0)
                        return r;
                if (!patch || dry_run) {
                        *ret_adopted = patch != NULL;
                        return 0;
                }
                body = cJSON_PrintUnformatted(patch);
                if (!body)
                        return -ENOMEM;
                r = call(c, "PATCH", query, BODY_MERGE, body, &resp, err);
                if (r < 0)
                        return r;
                if (resp.status == 200 && cJSON_IsObject(resp.json)) {
                        cJSON_Delete(*live);
                        *live = TAKE_PTR(resp.json);
                        *ret_adopted = true;
                        log_debug("kube: %s: field ownership taken over from kubectl", path);
                        return 0;
                }
                if (resp.status != 409)
                        return http_failure(&resp, err);
                /* Changed since we read it: read again. */
                cJSON_Delete(*live);
                *live = NULL;
                r = get_optional(c, path, live, err);
                if (r < 0)
                        return r;
        }
        return kube_error_setf(err, -EEXIST, "%s keeps changing while its fields are taken over", path);
}

/* ---- apply ----------------------------------------------------------------- */

static const char *resource_version(const cJSON *obj) {
        return json_string(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion");
}

/* Equal apart from managedFields (whose times a dry run moves). */
static bool same_content(const cJSON *a, const cJSON *b) {
        _cleanup_(cJSON_Deletep) cJSON *x = cJSON_Duplicate(a, true);
        _cleanup_(cJSON_Deletep) cJSON *y = cJSON_Duplicate(b, true);

        if (!x || !y)
                return false;
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(x, "metadata"), "managedFields");
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(y, "metadata"), "managedFields");
        return cJSON_Compare(x, y, true);
}

void kube_apply_result_clear(KubeApplyResult *r) {
        if (!r)
                return;
        free(r->resource_version);
        cJSON_Delete(r->live);
        *r = (KubeApplyResult) { 0 };
}

int kube_apply(KubeClient *c, const cJSON *obj, const char *last_resource_version, unsigned flags,
               KubeApplyResult *ret, KubeError *err) {
        bool dry_run = flags & KUBE_APPLY_DRY_RUN, adopted = false, read_first;
        _cleanup_free_ char *path = NULL, *query = NULL, *body = NULL, *rv = NULL;
        _cleanup_(cJSON_Deletep) cJSON *before = NULL;
        _cleanup_(response_clear) Response resp = { 0 };
        const char *new_rv;
        KubeRef ref;
        int r;

        if (kube_ref_from_object(obj, &ref) < 0)
                return kube_error_setf(err, -EINVAL, "object without apiVersion, kind or metadata.name");
        r = ref_path(&ref, &path, err);
        if (r < 0)
                return r;

        /* A dry run reads first to tell whether it would change anything
         * (its resourceVersion never moves); adoption reads to know the owners. */
        read_first = dry_run || (flags & KUBE_APPLY_ADOPT);
        if (read_first) {
                r = get_optional(c, path, &before, err);
                if (r < 0)
                        return r;
                if (flags & KUBE_APPLY_ADOPT) {
                        r = adopt(c, path, ref.api_version, dry_run, &before, &adopted, err);
                        if (r < 0)
                                return r;
                }
        }

        body = cJSON_PrintUnformatted(obj);
        if (!body || asprintf(&query, "%s?fieldManager=" FIELD_MANAGER "&force=true%s", path,
                              dry_run ? "&dryRun=All" : "") < 0)
                return -ENOMEM;
        r = call(c, "PATCH", query, BODY_APPLY, body, &resp, err);
        if (r < 0)
                return r;
        if (resp.status != 200 && resp.status != 201)
                return http_failure(&resp, err);
        new_rv = resource_version(resp.json);
        if (!new_rv && !(dry_run && resp.status == 201)) /* a dry-run create has none */
                return kube_error_setf(err, -EBADMSG, "PATCH %s: the answer has no metadata.resourceVersion", path);
        if (new_rv && !(rv = strdup(new_rv)))
                return -ENOMEM;

        *ret = (KubeApplyResult) {
                .created = resp.status == 201,
                .adopted = adopted,
        };
        if (ret->created)
                ret->changed = true;
        else if (dry_run)
                ret->changed = !before || !same_content(before, resp.json);
        else if (read_first)
                ret->changed = adopted || !before || !streq(strna(resource_version(before)), strna(rv));
        else
                ret->changed = !last_resource_version || !streq(last_resource_version, strna(rv));
        ret->resource_version = TAKE_PTR(rv);
        ret->live = TAKE_PTR(resp.json);
        return 0;
}
