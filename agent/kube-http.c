/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See kube-internal.h (the transport). One CURLM multi handle per client, glued to the client's
 * sd-event loop: curl tells us which sockets to watch (socket_cb) and when
 * to wake it (timer_cb); the loop calls curl_multi_socket_action() back and
 * we collect the finished transfers. Each call owns one easy handle, reused
 * for its retries; the multi handle's connection cache (and the share
 * handle's TLS sessions) keep connections alive between calls and passes.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "kube-internal.h"
#include "kube-config.h"
#include "nap-config.h"
#include "util/clock.h"
#include "util/defaults.h"
#include "util/json.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"

struct KubeClient {
        KubeConfig *config;
        struct curl_slist *connect_to;  /* tls-server-name: where to connect (kube-config.h) */
        KubeClientOptions opts;
        sd_event *event;
        bool curl_open; /* this client holds libcurl open */
        CURLM *multi;
        CURLSH *share;
        sd_event_source *timer;
        sd_event_source **ios; /* one per socket curl asked us to watch */
        size_t n_ios;
        struct curl_slist *headers[_KUBE_BODY_MAX];
        unsigned seed;
        KubeStats stats;
        KubeRequests requests;
        KubeCall *calls; /* in flight or waiting to retry */
        bool lines_pending;
};

struct KubeCall {
        KubeClient *c;
        KubeCall *prev, *next;
        char *method;
        char *path;
        char *url;
        char *body;
        KubeBody body_type;
        KubeVerb verb; /* for the counts (kube_client_requests) */
        size_t kind;
        KubeCallLine on_line;
        CURL *easy;
        bool in_multi;
        StrBuf response;
        size_t line_start; /* streams: where the next unread line begins */
        bool lines_pending;
        bool too_big;
        char errbuf[CURL_ERROR_SIZE];
        unsigned attempt;
        usec_t start_usec, deadline_usec;
        sd_event_source *retry;
        KubeCallDone done;
        void *userdata;
};

/* An answer may hold a Secret's data (a read back, an echo of the request):
 * it is wiped before it is freed, as are the request bodies. */
void kube_response_clear(KubeResponse *r) {
        assert(r);

        json_delete_wiped(r->json);
        if (r->body)
                explicit_bzero(r->body, strlen(r->body));
        free(r->body);
        free(r->path);
        *r = (KubeResponse) { 0 };
}

/* ---- the client ----------------------------------------------------------- */

static void slist_wipe_free(struct curl_slist *l) {
        for (struct curl_slist *i = l; i; i = i->next)
                explicit_bzero(i->data, strlen(i->data));
        sym_curl_slist_free_all(l);
}

static void call_free(KubeCall *call);

KubeClient *kube_client_free(KubeClient *c) {
        if (!c)
                return NULL;
        while (c->calls)
                call_free(c->calls);
        if (c->curl_open) {
                if (c->multi)
                        sym_curl_multi_cleanup(c->multi);
                if (c->share)
                        sym_curl_share_cleanup(c->share);
                for (size_t i = 0; i < ELEMENTSOF(c->headers); i++)
                        slist_wipe_free(c->headers[i]);
                if (c->connect_to)
                        sym_curl_slist_free_all(c->connect_to);
                dlib_close(&kube_curl);
        }
        for (size_t i = 0; i < c->n_ios; i++)
                sd_event_source_disable_unref(c->ios[i]);
        free(c->ios);
        sd_event_source_disable_unref(c->timer);
        sd_event_unref(c->event);
        kube_config_free(c->config);
        free(c);
        return NULL;
}


static int build_headers(KubeClient *c) {
        static const char *const content_type[_KUBE_BODY_MAX] = {
                [KUBE_BODY_NONE] = NULL,
                [KUBE_BODY_APPLY] = "Content-Type: application/apply-patch+yaml",
                [KUBE_BODY_MERGE] = "Content-Type: application/merge-patch+json",
                [KUBE_BODY_JSON] = "Content-Type: application/json",
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

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp);
static int timer_cb(CURLM *multi, long timeout_ms, void *userp);

static int setup_multi(KubeClient *c) {
        bool ok;

        c->multi = sym_curl_multi_init();
        c->share = sym_curl_share_init();
        if (!c->multi || !c->share)
                return -ENOMEM;
        ok = sym_curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) == CURLM_OK &&
             sym_curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) == CURLM_OK &&
             sym_curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb) == CURLM_OK &&
             sym_curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) == CURLM_OK &&
             sym_curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX) == CURLM_OK &&
             /* HTTP/1.1 (a plain-HTTP server, a proxy) opens one connection per
              * concurrent request: a pass never needs more than a handful. */
             sym_curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) c->opts.max_connections) ==
                     CURLM_OK &&
             sym_curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) == CURLSHE_OK &&
             sym_curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) == CURLSHE_OK;
        return ok ? 0 : -EOPNOTSUPP;
}

int kube_client_new(const char *kubeconfig_path, const KubeClientOptions *opts, sd_event *event, KubeClient **ret,
                    KubeError *err) {
        _cleanup_(kube_client_freep) KubeClient *c = NULL;
        char why[256];
        int r;

        assert(kubeconfig_path);
        assert(ret);

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        if (opts)
                c->opts = *opts;
        if (c->opts.request_timeout_usec == 0)
                c->opts.request_timeout_usec = DEFAULT_KUBE_REQUEST_TIMEOUT_USEC;
        if (c->opts.connect_timeout_usec == 0)
                c->opts.connect_timeout_usec = DEFAULT_KUBE_CONNECT_TIMEOUT_USEC;
        if (c->opts.deadline_usec == 0)
                c->opts.deadline_usec = DEFAULT_KUBE_DEADLINE_USEC;
        if (c->opts.backoff_initial_usec == 0)
                c->opts.backoff_initial_usec = DEFAULT_KUBE_BACKOFF_INITIAL_USEC;
        if (c->opts.backoff_max_usec == 0)
                c->opts.backoff_max_usec = DEFAULT_KUBE_BACKOFF_MAX_USEC;
        if (c->opts.max_connections == 0)
                c->opts.max_connections = 8;
        c->seed = (unsigned) now_usec() ^ (unsigned) getpid() ^ (unsigned) (uintptr_t) c;
        if (event)
                c->event = sd_event_ref(event);
        else if ((r = sd_event_new(&c->event)) < 0)
                return kube_error_setf(err, r, "cannot create an event loop: %s", STRERROR(r));

        r = kube_config_load(kubeconfig_path, &c->config, err);
        if (r < 0)
                return r;
        r = dlib_open(&kube_curl, why, sizeof why);
        if (r < 0)
                return kube_error_setf(err, r, "%s", why);
        c->curl_open = true;
        /* The token goes out in every request: a proxy or server that quotes
         * the request back must not get it into a log (util/redact.h). */
        r = c->config->token ? redact_pin_secret(c->config->token) : 0;
        if (r >= 0)
                r = build_headers(c);
        if (r >= 0 && c->config->connect_to && !(c->connect_to = sym_curl_slist_append(NULL, c->config->connect_to)))
                r = -ENOMEM;
        if (r >= 0)
                r = setup_multi(c);
        if (r < 0)
                return kube_error_setf(err, r, "libcurl could not set up a client: %s", STRERROR(r));
        *ret = TAKE_PTR(c);
        return 0;
}

const char *kube_client_server(const KubeClient *c) {
        assert(c);

        return c->config->server;
}

void kube_client_stats(const KubeClient *c, KubeStats *ret) {
        assert(c);
        assert(ret);

        *ret = c->stats;
}

const KubeRequests *kube_client_requests(const KubeClient *c) {
        assert(c);

        return &c->requests;
}

sd_event *kube_client_event(const KubeClient *c) {
        assert(c);

        return c->event;
}

bool kube_client_idle(const KubeClient *c) {
        assert(c);

        return !c->calls;
}

/* ---- glue between curl and sd-event ---------------------------------------- */

static void process_done(KubeClient *c);
static void dispatch_lines(KubeClient *c);

static void after_action(KubeClient *c) {
        process_done(c);
        if (c->lines_pending)
                dispatch_lines(c);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        KubeClient *c = userdata;
        int action = 0, running;

        if (revents & (EPOLLIN | EPOLLHUP))
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & EPOLLERR)
                action |= CURL_CSELECT_ERR;
        (void) sym_curl_multi_socket_action(c->multi, fd, action, &running);
        after_action(c);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        KubeClient *c = userdata;
        int running;

        (void) sym_curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        after_action(c);
        return 0;
}

static void ios_remove(KubeClient *c, sd_event_source *s) {
        for (size_t i = 0; i < c->n_ios; i++)
                if (c->ios[i] == s) {
                        c->ios[i] = c->ios[--c->n_ios];
                        break;
                }
        sd_event_source_disable_unref(s);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        KubeClient *c = userp;
        sd_event_source *s = socketp, **n;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (s) {
                        ios_remove(c, s);
                        (void) sym_curl_multi_assign(c->multi, fd, NULL);
                }
                return 0;
        }
        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;
        if (s) {
                r = sd_event_source_set_io_events(s, events);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s, SD_EVENT_ON);
                return r < 0 ? -1 : 0;
        }
        n = realloc(c->ios, (c->n_ios + 1) * sizeof *n);
        if (!n)
                return -1;
        c->ios = n;
        r = sd_event_add_io(c->event, &s, fd, events, on_io, c);
        if (r < 0)
                return -1;
        (void) sd_event_source_set_description(s, "kube-io");
        c->ios[c->n_ios++] = s;
        if (sym_curl_multi_assign(c->multi, fd, s) != CURLM_OK) {
                ios_remove(c, s);
                return -1;
        }
        return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
        KubeClient *c = userp;
        uint64_t at;
        int r;

        if (timeout_ms < 0) {
                if (c->timer)
                        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                return 0;
        }
        at = now_usec() + (usec_t) timeout_ms * USEC_PER_MSEC;
        if (c->timer) {
                r = sd_event_source_set_time(c->timer, at);
                if (r >= 0)
                        r = sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
        } else {
                /* Accuracy 1 µs: 0 would mean sd-event's default of 250 ms,
                 * a quarter second added to every request. */
                r = sd_event_add_time(c->event, &c->timer, CLOCK_MONOTONIC, at, 1, on_timer, c);
                if (r >= 0)
                        (void) sd_event_source_set_description(c->timer, "kube-timer");
        }
        return r < 0 ? -1 : 0;
}

/* ---- calls ----------------------------------------------------------------- */

static void call_unlink(KubeCall *call) {
        KubeClient *c = call->c;

        if (call->prev)
                call->prev->next = call->next;
        else if (c->calls == call)
                c->calls = call->next;
        if (call->next)
                call->next->prev = call->prev;
        call->prev = call->next = NULL;
}

static void call_free(KubeCall *call) {
        if (!call)
                return;
        call_unlink(call);
        if (call->easy) {
                if (call->in_multi)
                        sym_curl_multi_remove_handle(call->c->multi, call->easy);
                sym_curl_easy_cleanup(call->easy);
        }
        sd_event_source_disable_unref(call->retry);
        if (call->body)
                explicit_bzero(call->body, strlen(call->body));
        call->response.wipe = true;
        strbuf_free(&call->response);
        free(call->method);
        free(call->path);
        free(call->url);
        free(call->body);
        free(call);
}

void kube_call_cancel(KubeCall *call) {
        call_free(call);
}

/* The HTTP status of the answer being received, 0 before its headers. */
static long kube_call_http_status(KubeCall *call) {
        long status = 0;

        if (sym_curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
                return 0;
        return status;
}

static size_t write_cb(char *ptr, size_t size, size_t n, void *userdata) {
        KubeCall *call = userdata;

        if (call->response.len + n > KUBE_RESPONSE_MAX) {
                call->too_big = true;
                return 0;
        }
        strbuf_putn(&call->response, ptr, n);
        if (call->response.oom)
                return 0;
        if (call->on_line && memchr(ptr, '\n', n))
                call->lines_pending = call->c->lines_pending = true;
        return size * n;
}

static int setup_easy(KubeCall *call) {
        KubeClient *c = call->c;
        KubeConfig *k = c->config;
        CURL *h = call->easy;
        bool ok = true;

        ok = ok && sym_curl_easy_setopt(h, CURLOPT_URL, call->url) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_PRIVATE, call) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_SHARE, c->share) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_USERAGENT, "nap-agent/" PACKAGE_VERSION) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_ERRORBUFFER, call->errbuf) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS) == CURLE_OK;
        /* Over TLS, wait for the first connection's ALPN answer rather than
         * open one per concurrent request: HTTP/2 multiplexes them all. */
        if (strneq(k->server, "https://", 8))
                ok = ok && sym_curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, usec_to_ms_ceil(c->opts.connect_timeout_usec)) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_WRITEDATA, call) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers[call->body_type]) == CURLE_OK;
        if (call->body) {
                ok = ok && sym_curl_easy_setopt(h, CURLOPT_POSTFIELDS, call->body) == CURLE_OK;
                ok = ok && sym_curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(call->body)) ==
                                   CURLE_OK;
        }
        if (!streq(call->method, "GET"))
                ok = ok && sym_curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, call->method) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, k->insecure_skip_tls_verify ? 0L : 1L) == CURLE_OK;
        ok = ok && sym_curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, k->insecure_skip_tls_verify ? 0L : 2L) == CURLE_OK;
        if (c->connect_to)
                ok = ok && sym_curl_easy_setopt(h, CURLOPT_CONNECT_TO, c->connect_to) == CURLE_OK;
        if (k->proxy_url) {
                ok = ok && sym_curl_easy_setopt(h, CURLOPT_PROXY, k->proxy_url) == CURLE_OK;
                /* the kubeconfig's proxy is for every request, whatever $no_proxy says */
                ok = ok && sym_curl_easy_setopt(h, CURLOPT_NOPROXY, "") == CURLE_OK;
        }
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

/* Starts one attempt: the transfer joins the multi handle; the loop drives it. */
static int attempt_start(KubeCall *call) {
        usec_t now = now_usec(), left = call->deadline_usec > now ? call->deadline_usec - now : 1;
        long timeout = usec_to_ms_ceil(call->on_line || left < call->c->opts.request_timeout_usec
                                               ? left
                                               : call->c->opts.request_timeout_usec);

        call->response.wipe = true;
        strbuf_free(&call->response);
        call->response = (StrBuf) { .wipe = true };
        call->line_start = 0;
        call->too_big = false;
        call->errbuf[0] = 0;
        call->attempt++;
        if (sym_curl_easy_setopt(call->easy, CURLOPT_TIMEOUT_MS, timeout) != CURLE_OK ||
            sym_curl_multi_add_handle(call->c->multi, call->easy) != CURLM_OK)
                return -EIO;
        call->in_multi = true;
        call->c->requests.n[call->verb][call->kind]++;
        return 0;
}

static void call_complete(KubeCall *call, int r, KubeResponse *resp, const KubeError *err) {
        KubeCallDone done = call->done;
        void *userdata = call->userdata;

        call_unlink(call);
        done(call, r, resp, err, userdata);
        call_free(call);
}

static void call_complete_error(KubeCall *call, int r, KubeError *err) {
        if (call->attempt > 1)
                kube_error_append(err, " (gave up after %u attempts in %.1f s)", call->attempt,
                                  (double) (now_usec() - call->start_usec) / USEC_PER_SEC);
        call_complete(call, r, NULL, err);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        KubeCall *call = userdata;
        KubeError err = { 0 };
        int r;

        call->retry = sd_event_source_disable_unref(call->retry);
        r = attempt_start(call);
        if (r < 0) {
                kube_error_setf(&err, r, "%s %s: libcurl refused the transfer", call->method, call->path);
                call_complete_error(call, r, &err);
        }
        return 0;
}

/* Capped exponential backoff with "equal jitter": half fixed, half random. */
static usec_t backoff_usec(KubeClient *c, unsigned attempt) {
        usec_t d = c->opts.backoff_initial_usec;

        for (unsigned i = 1; i < attempt && d < c->opts.backoff_max_usec; i++)
                d *= 2;
        if (d > c->opts.backoff_max_usec)
                d = c->opts.backoff_max_usec;
        return d / 2 + (usec_t) rand_r(&c->seed) % (d / 2 + 1);
}

/* Retry-After, given in seconds (the HTTP-date form is not used by the
 * apiserver); -1 when there is none. */
static int64_t retry_after_usec(KubeCall *call) {
        struct curl_header *h;
        char *end;
        long s;

        if (sym_curl_easy_header(call->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
                return -1;
        s = strtol(h->value, &end, 10);
        if (end == h->value || s < 0 || s > 3600)
                return -1;
        return (int64_t) s * (int64_t) USEC_PER_SEC;
}

static bool status_retryable(long status, unsigned attempt) {
        /* A 500 from the apiserver is mostly deterministic (e.g. a Service
         * port without protocol on 1.20): try it twice, not until the deadline. */
        if (status == 500)
                return attempt < 2;
        return status == 429 || status == 502 || status == 503 || status == 504;
}

/* Schedules another attempt after delay; false when the deadline does not
 * leave room for it. */
static bool schedule_retry(KubeCall *call, usec_t delay) {
        if (call->on_line || now_usec() + delay >= call->deadline_usec)
                return false;
        if (sd_event_add_time_relative(call->c->event, &call->retry, CLOCK_MONOTONIC, delay, USEC_PER_MSEC, on_retry,
                                       call) < 0)
                return false;
        (void) sd_event_source_set_description(call->retry, "kube-retry");
        return true;
}

static void deliver(KubeCall *call, long status) {
        KubeResponse resp = {
                .status = status,
                .attempts = call->attempt,
                .seconds = (double) (now_usec() - call->start_usec) / USEC_PER_SEC,
        };
        KubeError err = { 0 };

        if (!call->response.s)
                strbuf_puts(&call->response, "");
        resp.body = strbuf_steal(&call->response);
        call->response.wipe = true;
        resp.path = strdup(call->path);
        if (!resp.body || !resp.path) {
                kube_response_clear(&resp);
                kube_error_setf(&err, -ENOMEM, "out of memory");
                call_complete(call, -ENOMEM, NULL, &err);
                return;
        }
        resp.json = cJSON_Parse(resp.body);
        call_complete(call, 0, &resp, NULL);
        kube_response_clear(&resp);
}

static void call_finished(KubeCall *call, CURLcode cc) {
        KubeClient *c = call->c;
        long status = 0, connects = 0;
        int64_t after = -1;
        KubeError err = { 0 };
        bool retry;
        int r;

        sym_curl_multi_remove_handle(c->multi, call->easy);
        call->in_multi = false;
        c->stats.requests++;
        if (sym_curl_easy_getinfo(call->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK)
                c->stats.connections += (unsigned long) connects;
        if (cc == CURLE_OK)
                sym_curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
        log_debug("kube: %s %s -> %ld (curl %d, attempt %u)", call->method, call->path, status, (int) cc,
                  call->attempt);

        if (cc == CURLE_OK) {
                if (call->on_line && call->lines_pending)
                        return; /* dispatch_lines() hands the rest over, then delivers */
                if (status_retryable(status, call->attempt)) {
                        after = status == 429 || status == 503 ? retry_after_usec(call) : -1;
                        if (schedule_retry(call, after >= 0 ? (usec_t) after : backoff_usec(c, call->attempt)))
                                return;
                }
                deliver(call, status);
                return;
        }
        r = kube_error_from_curl(cc, call->errbuf[0] ? call->errbuf : sym_curl_easy_strerror(cc), c->config->server,
                                 call->too_big, &retry, &err);
        if (retry && schedule_retry(call, backoff_usec(c, call->attempt)))
                return;
        call_complete_error(call, r, &err);
}

static void process_done(KubeClient *c) {
        CURLMsg *msg;
        int left;

        while ((msg = sym_curl_multi_info_read(c->multi, &left))) {
                KubeCall *call = NULL;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                if (sym_curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &call) != CURLE_OK || !call)
                        continue;
                call_finished(call, msg->data.result);
        }
}

/* Drops the lines already handed over, keeping a line not complete yet,
 * so that a long-lived stream holds at most about one line. */
static void stream_compact(KubeCall *call) {
        StrBuf *b = &call->response;

        if (call->line_start == 0 || (call->line_start < b->len && call->line_start < 64 * 1024))
                return;
        memmove(b->s, b->s + call->line_start, b->len - call->line_start + 1); /* with the NUL */
        b->len -= call->line_start;
        call->line_start = 0;
}

/* Hands the complete lines of one stream to its consumer: only those of a
 * 200 answer (another status is an error body, delivered whole). Returns
 * false when the call ended (stopped by the consumer, or its transfer had
 * finished and it was delivered). */
static bool stream_lines(KubeCall *call) {
        StrBuf *b = &call->response;
        KubeError err = { 0 };
        char *nl;

        call->lines_pending = false;
        while (kube_call_http_status(call) == 200 && call->line_start < b->len &&
               (nl = memchr(b->s + call->line_start, '\n', b->len - call->line_start))) {
                size_t start = call->line_start, len = (size_t) (nl - (b->s + start));
                int r;

                call->line_start = start + len + 1;
                if (len == 0)
                        continue;
                *nl = 0;
                r = call->on_line(call, b->s + start, len, call->userdata);
                if (r < 0) {
                        kube_error_setf(&err, r, "%s %s: stopped by its consumer", call->method, call->path);
                        call_complete(call, r, NULL, &err);
                        return false;
                }
        }
        stream_compact(call);
        if (!call->in_multi) {
                long status = 0;
                sym_curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
                deliver(call, status);
                return false;
        }
        return true;
}

static void dispatch_lines(KubeClient *c) {
        bool again = true;

        c->lines_pending = false;
        /* A consumer may cancel or start calls: rescan from the head after each. */
        while (again) {
                again = false;
                for (KubeCall *call = c->calls; call; call = call->next)
                        if (call->lines_pending) {
                                (void) stream_lines(call);
                                again = true;
                                break;
                        }
        }
}

static int call_new(KubeClient *c, const char *method, const char *path, const KubeCallOptions *opts,
                    KubeCallDone done, void *userdata, KubeCall **ret) {
        KubeCall *call = calloc(1, sizeof *call);

        if (!call)
                return -ENOMEM;
        call->c = c;
        call->done = done;
        call->userdata = userdata;
        call->body_type = opts ? opts->body_type : KUBE_BODY_NONE;
        kube_request_classify(method, path, call->body_type == KUBE_BODY_APPLY, &call->verb, &call->kind);
        call->on_line = opts ? opts->on_line : NULL;
        call->method = strdup(method);
        call->path = strdup(path);
        if (!call->method || !call->path || asprintf(&call->url, "%s%s", c->config->request_base, path) < 0 ||
            (opts && opts->body && !(call->body = strdup(opts->body)))) {
                call_free(call);
                return -ENOMEM;
        }
        call->start_usec = now_usec();
        call->deadline_usec = call->start_usec + (opts && opts->deadline_usec ? opts->deadline_usec : c->opts.deadline_usec);
        *ret = call;
        return 0;
}

int kube_call_start(KubeClient *c, const char *method, const char *path, const KubeCallOptions *opts,
                    KubeCallDone done, void *userdata, KubeCall **ret) {
        KubeCall *call = NULL;
        int r;

        assert(c);
        assert(method);
        assert(path);
        assert(done);

        r = call_new(c, method, path, opts, done, userdata, &call);
        if (r < 0)
                return r;
        call->next = c->calls;
        if (c->calls)
                c->calls->prev = call;
        c->calls = call;
        call->easy = sym_curl_easy_init();
        r = call->easy ? setup_easy(call) : -ENOMEM;
        if (r >= 0)
                r = attempt_start(call);
        if (r < 0) {
                call_free(call);
                return r;
        }
        if (ret)
                *ret = call;
        return 0;
}
