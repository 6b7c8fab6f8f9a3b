/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Watching a collection (see kube.h): a list, then watch requests on the
 * transport's streaming call (kube-http.c), each line one event applied to
 * the list. What a reflector of client-go does, small: re-watch from the
 * last resourceVersion when a watch ends or breaks, list again from scratch
 * on 410 Gone. The consumer hears of changes from a deferred event source,
 * so a burst of events costs one callback and nothing of the watch is on
 * the stack when it runs. Nothing here wakes the loop but the server's
 * answers and the one backoff timer while a server is away.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube-internal.h"
#include "kube.h"
#include "util/clock.h"
#include "util/defaults.h"
#include "util/json.h"
#include "util/log.h"

struct KubeWatch {
        KubeClient *c;
        char *path;
        char *query; /* "" when none */
        KubeWatchOptions opts;
        KubeWatchChanged changed;
        void *userdata;
        KubeOp *list_op;           /* the list in flight */
        KubeCall *call;            /* the watch in flight */
        sd_event_source *retry;    /* backoff before the next list or watch */
        sd_event_source *notify;   /* the consumer's callback, deferred */
        cJSON *items;              /* an array; NULL before the first list */
        char *rv;                  /* the last resourceVersion seen */
        bool need_list;            /* the next request is a list */
        bool expired;              /* the watch in flight said 410 */
        unsigned failures;         /* in a row, for the backoff */
        usec_t watch_started_usec;
        unsigned watch_events;     /* lines of the watch in flight */
        int error;                 /* gave up */
        KubeError err;
        KubeWatchStats stats;
        unsigned seed;
};

static int list_start(KubeWatch *w);
static int watch_start(KubeWatch *w);

/* managedFields are most of an object's bytes and no watcher here reads
 * them: the list keeps the objects without. */
static void strip(const KubeWatch *w, cJSON *obj) {
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "managedFields");
        if (w->opts.trim)
                w->opts.trim(obj);
}

KubeWatch *kube_watch_free(KubeWatch *w) {
        if (!w)
                return NULL;
        kube_op_cancel(w->list_op);
        kube_call_cancel(w->call);
        sd_event_source_disable_unref(w->retry);
        sd_event_source_disable_unref(w->notify);
        cJSON_Delete(w->items);
        free(w->path);
        free(w->query);
        free(w->rv);
        free(w);
        return NULL;
}

bool kube_watch_synced(const KubeWatch *w) {
        assert(w);

        return w->items && !w->need_list && w->error == 0;
}

const cJSON *kube_watch_items(const KubeWatch *w) {
        assert(w);

        return w->items;
}

static const char *object_name(const cJSON *o) {
        return json_string(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "name");
}

static const char *object_rv(const cJSON *o) {
        return json_string(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "resourceVersion");
}

static int find_index(const KubeWatch *w, const char *name) {
        const cJSON *i;
        int n = 0;

        cJSON_ArrayForEach(i, w->items) {
                const char *x = object_name(i);
                if (x && streq(x, name))
                        return n;
                n++;
        }
        return -1;
}

const cJSON *kube_watch_find(const KubeWatch *w, const char *name) {
        int i;

        assert(w);
        assert(name);

        i = find_index(w, name);
        return i < 0 ? NULL : cJSON_GetArrayItem(w->items, i);
}

int kube_watch_error(const KubeWatch *w, const KubeError **ret_err) {
        assert(w);

        if (ret_err)
                *ret_err = w->error ? &w->err : NULL;
        return w->error;
}

void kube_watch_stats(const KubeWatch *w, KubeWatchStats *ret) {
        assert(w);
        assert(ret);

        *ret = w->stats;
}

/* ---- telling the consumer ---------------------------------------------------- */

static int on_notify(sd_event_source *s, void *userdata) {
        KubeWatch *w = userdata;

        /* The last thing done here: the consumer may free w. */
        w->changed(w, w->userdata);
        return 0;
}

static void notify_soon(KubeWatch *w) {
        sd_event *e = kube_client_event(w->c);

        if (!w->notify) {
                if (sd_event_add_defer(e, &w->notify, on_notify, w) < 0)
                        return; /* out of memory: the next change tries again */
                (void) sd_event_source_set_description(w->notify, "kube-watch-notify");
                return;
        }
        (void) sd_event_source_set_enabled(w->notify, SD_EVENT_ONESHOT);
}

static void give_up(KubeWatch *w, int r, const KubeError *err) {
        w->error = r < 0 ? r : -EIO;
        if (err)
                w->err = *err;
        else
                kube_error_setf(&w->err, w->error, "watching %s failed: %s", w->path, STRERROR(w->error));
        log_debug("kube: watch of %s gives up: %s", w->path, w->err.message);
        notify_soon(w);
}

/* ---- retrying ---------------------------------------------------------------- */

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        KubeWatch *w = userdata;
        int r;

        r = w->need_list ? list_start(w) : watch_start(w);
        if (r < 0)
                give_up(w, r, NULL);
        return 0;
}

/* The next list or watch, after a capped exponential backoff with jitter
 * (none the first time after a success). */
static void retry_later(KubeWatch *w) {
        usec_t d = w->opts.backoff_initial_usec;
        int r;

        for (unsigned i = 1; i < w->failures && d < w->opts.backoff_max_usec; i++)
                d *= 2;
        if (d > w->opts.backoff_max_usec)
                d = w->opts.backoff_max_usec;
        d = w->failures == 0 ? 0 : d / 2 + (usec_t) rand_r(&w->seed) % (d / 2 + 1);
        if (w->retry) {
                r = sd_event_source_set_time_relative(w->retry, d);
                if (r >= 0)
                        r = sd_event_source_set_enabled(w->retry, SD_EVENT_ONESHOT);
        } else {
                r = sd_event_add_time_relative(kube_client_event(w->c), &w->retry, CLOCK_MONOTONIC, d, USEC_PER_MSEC,
                                               on_retry, w);
                if (r >= 0)
                        (void) sd_event_source_set_description(w->retry, "kube-watch-retry");
        }
        if (r < 0)
                give_up(w, r, NULL);
}

/* Whether an answer of this status may be different next time. */
static bool status_transient(long status) {
        return status == 429 || status >= 500;
}

/* ---- the list ------------------------------------------------------------------ */

static void on_listed(int r, cJSON *list, const KubeError *err, void *userdata) {
        KubeWatch *w = userdata;
        cJSON *items;
        const char *rv;

        w->list_op = NULL;
        if (r < 0) {
                if (err && err->http_status > 0 && !status_transient(err->http_status)) {
                        give_up(w, r, err);
                        return;
                }
                log_debug("kube: list of %s failed (%s), retrying", w->path, err ? err->message : STRERROR(r));
                w->stats.breaks++;
                w->failures++;
                retry_later(w);
                return;
        }
        items = cJSON_DetachItemFromObjectCaseSensitive(list, "items");
        rv = object_rv(list);
        if (!rv || (items && !cJSON_IsArray(items))) {
                cJSON_Delete(items);
                cJSON_Delete(list);
                w->stats.breaks++;
                w->failures++;
                retry_later(w);
                return;
        }
        free(w->rv);
        w->rv = strdup(rv);
        cJSON_Delete(list);
        cJSON_Delete(w->items);
        w->items = items ? items : cJSON_CreateArray();
        cJSON *i;
        cJSON_ArrayForEach(i, w->items)
                strip(w, i);
        if (!w->rv || !w->items) {
                give_up(w, -ENOMEM, NULL);
                return;
        }
        w->stats.lists++;
        w->need_list = false;
        w->failures = 0;
        log_debug("kube: listed %s: %d object(s) at resourceVersion %s", w->path, cJSON_GetArraySize(w->items), w->rv);
        r = watch_start(w);
        if (r < 0) {
                w->failures++;
                retry_later(w);
        }
        notify_soon(w);
}

static int list_start(KubeWatch *w) {
        _cleanup_free_ char *url = NULL;

        w->need_list = true;
        if (asprintf(&url, "%s%s%s", w->path, *w->query ? "?" : "", w->query) < 0)
                return -ENOMEM;
        return kube_get_start(w->c, url, on_listed, w, &w->list_op);
}

/* ---- the watch ----------------------------------------------------------------- */

/* An ERROR event: its Status says why the server ended the watch. */
static int watch_error_event(KubeWatch *w, const cJSON *status) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(status, "code");

        if (cJSON_IsNumber(code) && code->valueint == 410) {
                w->expired = true;
                return -ESTALE;
        }
        kube_error_from_response(cJSON_IsNumber(code) ? code->valueint : 500, NULL, &w->err);
        log_debug("kube: watch of %s: ERROR event: %s", w->path, strna(json_string(status, "message")));
        return -EPROTO;
}

static int apply_event(KubeWatch *w, const char *type, cJSON *obj) {
        const char *name = object_name(obj);
        int i;

        strip(w, obj);
        if (!name)
                return -EBADMSG;
        i = find_index(w, name);
        if (streq(type, "DELETED")) {
                if (i >= 0)
                        cJSON_DeleteItemFromArray(w->items, i);
                cJSON_Delete(obj);
        } else if (i >= 0) {
                if (!cJSON_ReplaceItemInArray(w->items, i, obj)) {
                        cJSON_Delete(obj);
                        return -ENOMEM;
                }
        } else if (!cJSON_AddItemToArray(w->items, obj)) {
                cJSON_Delete(obj);
                return -ENOMEM;
        }
        w->stats.events++;
        return 0;
}

static int on_line(KubeCall *call, const char *line, size_t len, void *userdata) {
        KubeWatch *w = userdata;
        _cleanup_(cJSON_Deletep) cJSON *ev = cJSON_ParseWithLength(line, len);
        const char *type = json_string(ev, "type"), *rv;
        cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
        int r;

        if (!type || !cJSON_IsObject(obj))
                return -EBADMSG;
        if (streq(type, "ERROR"))
                return watch_error_event(w, obj);
        rv = object_rv(obj);
        if (rv) {
                char *n = strdup(rv);
                if (!n)
                        return -ENOMEM;
                free(w->rv);
                w->rv = n;
        }
        w->watch_events++;
        if (streq(type, "BOOKMARK"))
                return 0;
        if (!streq(type, "ADDED") && !streq(type, "MODIFIED") && !streq(type, "DELETED"))
                return -EBADMSG;
        obj = cJSON_DetachItemViaPointer(ev, obj);
        r = apply_event(w, type, obj);
        if (r < 0)
                return r;
        notify_soon(w);
        return 0;
}

static void on_watch_done(KubeCall *call, int r, KubeResponse *resp, const KubeError *err, void *userdata) {
        KubeWatch *w = userdata;
        usec_t lasted = now_usec() - w->watch_started_usec;
        bool expired = w->expired || (r >= 0 && resp->status == 410);

        w->call = NULL;
        w->expired = false;
        if (expired) {
                /* The server has no events from our resourceVersion any more:
                 * what happened in between is only in a new list. */
                log_debug("kube: watch of %s expired at resourceVersion %s: listing again", w->path, strna(w->rv));
                w->stats.expired++;
                w->need_list = true;
                w->failures = 0;
                retry_later(w);
                return;
        }
        if (r >= 0 && resp->status != 200) {
                KubeError e = { 0 };
                int q = kube_http_failure(resp, &e);
                if (!status_transient(resp->status)) {
                        give_up(w, q, &e);
                        return;
                }
                log_debug("kube: watch of %s answered %ld, retrying", w->path, resp->status);
        } else if (r >= 0 && (lasted >= USEC_PER_SEC || w->watch_events > 0)) {
                /* Its timeout, or the server closed it: go on from where it was. */
                log_debug("kube: watch of %s ended after %.1f s, watching again from %s", w->path,
                          (double) lasted / USEC_PER_SEC,
                          strna(w->rv));
                w->failures = 0;
                retry_later(w);
                return;
        } else
                log_debug("kube: watch of %s broke (%s), retrying from resourceVersion %s", w->path,
                          r < 0 && err ? err->message : "ended at once", strna(w->rv));
        w->stats.breaks++;
        w->failures++;
        /* An ERROR event other than 410: start over with a list. */
        if (r == -EPROTO)
                w->need_list = true;
        retry_later(w);
}

static int watch_start(KubeWatch *w) {
        _cleanup_free_ char *url = NULL;
        KubeCallOptions o = {
                .on_line = on_line,
                /* The server ends it after timeoutSeconds; this is for a
                 * server that stopped answering without closing. */
                .deadline_usec = w->opts.timeout_usec + 30 * USEC_PER_SEC,
        };

        if (asprintf(&url, "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%llu%s%s", w->path,
                     w->rv, (unsigned long long) (w->opts.timeout_usec / USEC_PER_SEC), *w->query ? "&" : "",
                     w->query) < 0)
                return -ENOMEM;
        w->watch_started_usec = now_usec();
        w->watch_events = 0;
        w->expired = false;
        w->stats.watches++;
        return kube_call_start(w->c, "GET", url, &o, on_watch_done, w, &w->call);
}

int kube_watch_start(KubeClient *c, const char *path, const char *query, const KubeWatchOptions *opts,
                     KubeWatchChanged changed, void *userdata, KubeWatch **ret) {
        _cleanup_(kube_watch_freep) KubeWatch *w = NULL;
        int r;

        assert(c);
        assert(path);
        assert(changed);
        assert(ret);

        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->c = c;
        w->changed = changed;
        w->userdata = userdata;
        if (opts)
                w->opts = *opts;
        if (w->opts.timeout_usec == 0)
                w->opts.timeout_usec = DEFAULT_WATCH_TIMEOUT_USEC;
        if (w->opts.timeout_usec < USEC_PER_SEC) /* timeoutSeconds is whole seconds */
                w->opts.timeout_usec = USEC_PER_SEC;
        if (w->opts.backoff_initial_usec == 0)
                w->opts.backoff_initial_usec = DEFAULT_WATCH_BACKOFF_INITIAL_USEC;
        if (w->opts.backoff_max_usec == 0)
                w->opts.backoff_max_usec = DEFAULT_WATCH_BACKOFF_MAX_USEC;
        w->seed = (unsigned) now_usec() ^ (unsigned) (uintptr_t) w;
        w->path = strdup(path);
        w->query = strdup(query ? query : "");
        if (!w->path || !w->query)
                return -ENOMEM;
        r = list_start(w);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(w);
        return 0;
}
