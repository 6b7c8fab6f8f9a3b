/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See daemon-rollouts.h. Each followed workload has up to three watches
 * (itself by name, its ReplicaSets and its Pods by its selector) and a
 * deadline timer; every change of one of them is judged by rollout.c. The
 * entry of a workload lives as long as the ledger has it, with the last
 * health known; the watches and the timer only while it is followed, and
 * the client only while anything is.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon-rollouts.h"
#include "util/clock.h"
#include "util/defaults.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/lock.h"
#include "util/log-messages.h"
#include "util/log.h"
#include "util/strbuf.h"


struct RolloutEntry {
        Rollouts *rs;
        RolloutEntry *next;
        char *api_version;
        char *kind;
        char *namespace;
        char *name;
        char *module;
        long long generation; /* what the agent applied and follows; 0: whatever is live (a check) */
        bool applied;         /* followed since an apply: its journal line says how long it took */
        RolloutHealth health;
        char reason[64];
        char message[400];
        char since[32];
        usec_t since_usec; /* the same, wall clock (the metrics) */
        usec_t started_usec;
        bool following;
        KubeWatch *self, *replicasets, *pods;
        sd_event_source *deadline;
};

struct Rollouts {
        Manager *m;
        RolloutsOptions opts;
        char *runtime_path;
        RolloutsChanged changed;
        void *userdata;
        KubeClient *kube;
        KubeRequests requests; /* of the clients closed so far (the daemon's metrics) */
        sd_event_source *update; /* deferred: judge the followed entries again */
        RolloutEntry *entries;
        char *saved; /* what the runtime file holds */
};

static int rollouts_save(Rollouts *rs);
static void entry_update(RolloutEntry *e);

/* snprintf() that may cut: the messages are one line, their end matters least. */
static void text_set(char *buf, size_t size, const char *format, ...) _printf_(3, 4);
static void text_set(char *buf, size_t size, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(buf, size, format, ap);
        va_end(ap);
}

/* ---- entries ---------------------------------------------------------------------- */

static void entry_unfollow(RolloutEntry *e) {
        e->self = kube_watch_free(e->self);
        e->replicasets = kube_watch_free(e->replicasets);
        e->pods = kube_watch_free(e->pods);
        e->deadline = sd_event_source_disable_unref(e->deadline);
        e->following = false;
}

static void entry_free(RolloutEntry *e) {
        entry_unfollow(e);
        free(e->api_version);
        free(e->kind);
        free(e->namespace);
        free(e->name);
        free(e->module);
        free(e);
}

static RolloutEntry *entry_find(Rollouts *rs, const char *kind, const char *namespace, const char *name) {
        for (RolloutEntry *e = rs->entries; e; e = e->next)
                if (streq(e->kind, kind) && streq(strempty(e->namespace) ? "" : e->namespace,
                                                  strempty(namespace) ? "" : namespace) && streq(e->name, name))
                        return e;
        return NULL;
}

static RolloutEntry *entry_add(Rollouts *rs, const char *api_version, const char *kind, const char *namespace,
                               const char *name, const char *module) {
        RolloutEntry *e = calloc(1, sizeof *e), **tail;

        if (!e)
                return NULL;
        *e = (RolloutEntry) {
                .rs = rs,
                .api_version = strdup(api_version),
                .kind = strdup(kind),
                .namespace = namespace ? strdup(namespace) : NULL,
                .name = strdup(name),
                .module = strdup(module ? module : ""),
        };
        if (!e->api_version || !e->kind || (namespace && !e->namespace) || !e->name || !e->module) {
                entry_free(e);
                return NULL;
        }
        for (tail = &rs->entries; *tail; tail = &(*tail)->next)
                ;
        *tail = e;
        return e;
}

static void entry_remove(Rollouts *rs, RolloutEntry *e) {
        for (RolloutEntry **p = &rs->entries; *p; p = &(*p)->next)
                if (*p == e) {
                        *p = e->next;
                        break;
                }
        entry_free(e);
}

/* The journal fields of an entry (util/log.h): the workload, and the
 * event's MESSAGE_ID. */
#define ENTRY_FIELDS(e, mid)                                                                                    \
        LOG_FIELDS(.message_id = (mid), .kind = (e)->kind, .namespace = (e)->namespace, .name = (e)->name,      \
                   .module = (e)->module, .workload = (e)->name)

static void set_health(RolloutEntry *e, RolloutHealth h, const char *reason, const char *message) {
        if (e->health != h || !streq(e->reason, reason)) {
                ledger_now(e->since, sizeof e->since);
                e->since_usec = now_realtime_usec();
        }
        e->health = h;
        text_set(e->reason, sizeof e->reason, "%s", reason);
        text_set(e->message, sizeof e->message, "%s", message);
}

/* ---- the whole ----------------------------------------------------------------------- */

bool rollouts_busy(const Rollouts *rs) {
        assert(rs);

        for (const RolloutEntry *e = rs->entries; e; e = e->next)
                if (e->following)
                        return true;
        return false;
}

/* Frees the watches' client, keeping its counts. */
static void drop_client(Rollouts *rs) {
        if (rs->kube)
                kube_requests_add(&rs->requests, kube_client_requests(rs->kube));
        rs->kube = kube_client_free(rs->kube);
}

void rollouts_requests(const Rollouts *rs, KubeRequests *ret) {
        assert(rs);
        assert(ret);

        *ret = rs->requests;
        if (rs->kube)
                kube_requests_add(ret, kube_client_requests(rs->kube));
}

/* After a change: the client goes when nothing is followed any more, the
 * runtime file is saved, the owner hears of it. */
static void rollouts_changed(Rollouts *rs, bool tell) {
        if (!rollouts_busy(rs) && rs->kube) {
                drop_client(rs);
                log_debug("rollouts: nothing followed any more, watches and client closed");
        }
        (void) rollouts_save(rs);
        if (tell && rs->changed)
                rs->changed(rs, rs->userdata);
}

static int on_update(sd_event_source *s, void *userdata) {
        Rollouts *rs = userdata;

        for (RolloutEntry *e = rs->entries, *next; e; e = next) {
                next = e->next;
                if (e->following)
                        entry_update(e);
        }
        return 0;
}

static void update_soon(Rollouts *rs) {
        if (!rs->update) {
                if (sd_event_add_defer(manager_event(rs->m), &rs->update, on_update, rs) >= 0)
                        (void) sd_event_source_set_description(rs->update, "rollouts-update");
                return;
        }
        (void) sd_event_source_set_enabled(rs->update, SD_EVENT_ONESHOT);
}

static void format_duration(usec_t usec, char *buf, size_t size) {
        usec_t s = (usec + USEC_PER_SEC / 2) / USEC_PER_SEC;

        if (s < 60)
                snprintf(buf, size, "%llu s", (unsigned long long) s);
        else if (s % 60 == 0)
                snprintf(buf, size, "%llu min", (unsigned long long) (s / 60));
        else
                snprintf(buf, size, "%llu min %llu s", (unsigned long long) (s / 60), (unsigned long long) (s % 60));
}

/* The entry's rollout is over (available, failing, unknown): one journal
 * line when that is news, the watches closed. */
static void entry_settle(RolloutEntry *e, RolloutHealth h, const char *reason, const char *message) {
        bool news = e->health != h || !streq(e->reason, reason) || e->applied;
        Rollouts *rs = e->rs;
        char took[32];

        format_duration(now_usec() - e->started_usec, took, sizeof took);
        set_health(e, h, reason, message);
        if (!news)
                log_debug("%s: still %s (%s)", e->name, rollout_health_to_string(h), message);
        else if (h == ROLLOUT_AVAILABLE && e->applied)
                log_struct(LOG_INFO, 0, ENTRY_FIELDS(e, NAP_MESSAGE_ROLLOUT_AVAILABLE), "%s: rolled out in %s (%s)",
                           e->name, took, message);
        else if (h == ROLLOUT_AVAILABLE)
                log_struct(LOG_INFO, 0, ENTRY_FIELDS(e, NAP_MESSAGE_ROLLOUT_AVAILABLE), "%s: available (%s)", e->name,
                           message);
        else if (h == ROLLOUT_FAILING)
                log_struct(LOG_WARNING, 0, ENTRY_FIELDS(e, NAP_MESSAGE_ROLLOUT_FAILING), "%s: failing: %s", e->name,
                           message);
        else
                log_struct(LOG_WARNING, 0, ENTRY_FIELDS(e, NULL), "%s: health unknown: %s", e->name, message);
        e->applied = false;
        entry_unfollow(e);
        rollouts_changed(rs, news); /* STATUS= when where the workloads stand changed */
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        RolloutEntry *e = userdata;
        char took[32], message[sizeof e->message];

        format_duration(e->rs->opts.timeout_usec, took, sizeof took);
        /* Cut to fit: the counts come last and matter least. */
        text_set(message, sizeof message, "not available after %s (%s)", took, e->message);
        entry_settle(e, ROLLOUT_FAILING, "Timeout", message);
        return 0;
}

/* ---- following one workload --------------------------------------------------------- */

static void on_watch(KubeWatch *w, void *userdata) {
        entry_update(userdata);
}

/* A client of its own: the watches outlive the pass's connection, which
 * the daemon closes when idle. */
static int client(Rollouts *rs, KubeClient **ret) {
        KubeError err = { 0 };
        int r;

        if (!rs->kube) {
                /* Over HTTP/1.1 each watch holds a connection of its own. */
                r = manager_kube_client_new(rs->m, NULL, 64, &rs->kube, &err);
                if (r < 0)
                        return log_warning_errno(r, "Cannot follow rollouts: %s", err.message);
        }
        *ret = rs->kube;
        return 0;
}

static int watch(RolloutEntry *e, const char *api_version, const char *kind, const char *query, KubeWatch **ret) {
        _cleanup_free_ char *path = NULL;
        KubeClient *k;
        int r;

        r = client(e->rs, &k);
        if (r < 0)
                return r;
        r = kube_collection_path(api_version, kind, e->namespace, &path);
        if (r < 0)
                return r;
        return kube_watch_start(k, path, query, &(KubeWatchOptions) { .trim = rollout_trim }, on_watch, e, ret);
}

/* The ReplicaSets' and Pods' watches, once the workload's selector is known. */
static int watch_children(RolloutEntry *e, const cJSON *live) {
        _cleanup_free_ char *query = NULL;
        int r;

        r = rollout_selector_query(live, &query);
        if (r < 0)
                return r;
        if (streq(e->kind, "Deployment") && (r = watch(e, "apps/v1", "ReplicaSet", query, &e->replicasets)) < 0)
                return r;
        return watch(e, "v1", "Pod", query, &e->pods);
}

static bool watch_failed(RolloutEntry *e) {
        KubeWatch *ws[] = { e->self, e->replicasets, e->pods };
        char message[sizeof e->message];

        for (size_t i = 0; i < ELEMENTSOF(ws); i++) {
                const KubeError *err = NULL;
                if (!ws[i] || kube_watch_error(ws[i], &err) >= 0)
                        continue;
                text_set(message, sizeof message, "cannot watch it: %s", err ? err->message : "?");
                entry_settle(e, ROLLOUT_UNKNOWN, "WatchFailed", message);
                return true;
        }
        return false;
}

/* A newer generation than the one followed: someone (a later pass, an
 * operator) changed the workload. Returns true when that ends the entry. */
static bool superseded(RolloutEntry *e, long long live_generation) {
        char message[sizeof e->message];

        if (e->generation <= 0 || live_generation <= e->generation)
                return false;
        if (e->rs->opts.stop_on_supersede) {
                snprintf(message, sizeof message, "superseded by generation %lld, which this apply did not write (it "
                         "wrote generation %lld)", live_generation, e->generation);
                entry_settle(e, ROLLOUT_FAILING, "Superseded", message);
                return true;
        }
        /* Most often the agent's own next pass, seen before the pass ended. */
        log_struct(LOG_INFO, 0, ENTRY_FIELDS(e, NULL), "%s: rollout of generation %lld superseded by generation %lld",
                   e->name, e->generation, live_generation);
        e->generation = live_generation;
        return false;
}

static void entry_update(RolloutEntry *e) {
        const cJSON *live;
        RolloutAssessment a;
        long long gen;

        if (!e->following || watch_failed(e) || !kube_watch_synced(e->self))
                return;
        live = kube_watch_find(e->self, e->name);
        if (!live) {
                set_health(e, ROLLOUT_PROGRESSING, "", "waiting for it to exist");
                return;
        }
        if (!e->pods && watch_children(e, live) < 0) {
                entry_settle(e, ROLLOUT_UNKNOWN, "WatchFailed", "cannot watch its pods");
                return;
        }
        if (!kube_watch_synced(e->pods) || (e->replicasets && !kube_watch_synced(e->replicasets)))
                return;
        const cJSON *g = JSON_GET(live, "metadata", "generation");
        gen = cJSON_IsNumber(g) ? (long long) g->valuedouble : 0;
        if (superseded(e, gen))
                return;
        if (gen < e->generation) {
                set_health(e, ROLLOUT_PROGRESSING, "", "waiting to see the generation applied");
                return;
        }
        if (rollout_assess(e->kind, live, e->replicasets ? kube_watch_items(e->replicasets) : NULL,
                           kube_watch_items(e->pods), &a) < 0)
                return;
        if (a.health == ROLLOUT_PROGRESSING) {
                bool news = e->health != ROLLOUT_PROGRESSING;
                set_health(e, a.health, "", a.message);
                if (news)
                        (void) rollouts_save(e->rs);
                return;
        }
        entry_settle(e, a.health, a.reason, a.message);
}

static int entry_follow(RolloutEntry *e) {
        _cleanup_free_ char *query = NULL;
        usec_t timeout = e->rs->opts.timeout_usec;
        int r;

        e->started_usec = now_usec();
        e->deadline = sd_event_source_disable_unref(e->deadline);
        r = sd_event_add_time_relative(manager_event(e->rs->m), &e->deadline, CLOCK_MONOTONIC, timeout, 1000 * 1000,
                                       on_deadline, e);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(e->deadline, "rollout-deadline");
        e->following = true;
        if (e->self)
                return 0; /* its watches go on */
        if (asprintf(&query, "fieldSelector=metadata.name%%3D%s", e->name) < 0)
                return -ENOMEM;
        r = watch(e, e->api_version, e->kind, query, &e->self);
        if (r < 0) {
                entry_unfollow(e);
                return r;
        }
        log_debug("%s: following its rollout (%s, generation %lld)", e->name, e->kind, e->generation);
        return 0;
}

/* ---- the set ------------------------------------------------------------------------ */

int rollouts_new(Manager *m, const RolloutsOptions *opts, RolloutsChanged changed, void *userdata, Rollouts **ret) {
        Rollouts *rs = calloc(1, sizeof *rs);

        assert(m);
        assert(ret);

        if (!rs)
                return -ENOMEM;
        *rs = (Rollouts) { .m = m, .changed = changed, .userdata = userdata };
        if (opts)
                rs->opts = *opts;
        if (rs->opts.timeout_usec == 0)
                rs->opts.timeout_usec = DEFAULT_ROLLOUT_TIMEOUT_USEC;
        if (rs->opts.runtime_path && !(rs->runtime_path = strdup(rs->opts.runtime_path))) {
                free(rs);
                return -ENOMEM;
        }
        rs->opts.runtime_path = NULL;
        *ret = rs;
        return 0;
}

Rollouts *rollouts_free(Rollouts *rs) {
        if (!rs)
                return NULL;
        while (rs->entries)
                entry_remove(rs, rs->entries);
        sd_event_source_disable_unref(rs->update);
        drop_client(rs);
        free(rs->runtime_path);
        free(rs->saved);
        free(rs);
        return NULL;
}

/* Starts following e; a failure to start settles it as unknown. */
static void follow(RolloutEntry *e) {
        int r = entry_follow(e);

        if (r < 0) {
                char message[128];
                snprintf(message, sizeof message, "cannot follow its rollout: %s", STRERROR(r));
                entry_settle(e, ROLLOUT_UNKNOWN, "WatchFailed", message);
        }
}

int rollouts_follow(Rollouts *rs, const PassResult *res) {
        assert(rs);
        assert(res);

        for (size_t i = 0; i < res->n_workloads; i++) {
                const PassWorkload *w = &res->workloads[i];
                RolloutEntry *e = entry_find(rs, w->kind, w->namespace, w->name);

                if (!e && !(e = entry_add(rs, w->api_version, w->kind, w->namespace, w->name, w->module)))
                        return -ENOMEM;
                if (e->following && e->generation > 0 && w->generation > e->generation)
                        log_struct(LOG_INFO, 0, ENTRY_FIELDS(e, NULL),
                                   "%s: rollout of generation %lld superseded by generation %lld", e->name,
                                   e->generation, w->generation);
                e->generation = w->generation;
                e->applied = true;
                set_health(e, ROLLOUT_PROGRESSING, "", "applied; waiting for the controller");
                follow(e);
        }
        if (res->n_workloads > 0) {
                update_soon(rs); /* the watches of an entry followed already may have seen it all */
                rollouts_changed(rs, false);
        }
        return 0;
}

static bool in_ledger(const Ledger *l, const RolloutEntry *e) {
        const LedgerObject *o = ledger_find_object(l, e->kind, e->namespace, e->name);

        return o && !(o->pending && streq(o->pending, "delete"));
}

int rollouts_sync(Rollouts *rs, const Ledger *l, bool check) {
        assert(rs);
        assert(l);

        for (RolloutEntry *e = rs->entries, *next; e; e = next) {
                next = e->next;
                if (!in_ledger(l, e))
                        entry_remove(rs, e);
        }
        for (size_t i = 0; check && i < l->n_objects; i++) {
                const LedgerObject *o = &l->objects[i];
                RolloutEntry *e;

                /* nap-cp, where the agent only sets fields, is the platform's to roll out */
                if (!rollout_kind(o->kind) || o->pending || streq(o->module, PARTIAL_MODULE))
                        continue;
                e = entry_find(rs, o->kind, o->namespace, o->name);
                if (!e && !(e = entry_add(rs, o->api_version, o->kind, o->namespace, o->name, o->module)))
                        return -ENOMEM;
                if (!e->following)
                        follow(e);
        }
        rollouts_changed(rs, false);
        return 0;
}

void rollouts_stop(Rollouts *rs) {
        assert(rs);

        for (RolloutEntry *e = rs->entries; e; e = e->next)
                if (e->following) {
                        entry_unfollow(e);
                        set_health(e, ROLLOUT_UNKNOWN, "", "not followed while reloading");
                }
        drop_client(rs);
        (void) rollouts_save(rs);
}

int rollouts_states(const Rollouts *rs, RolloutState **ret, size_t *ret_n) {
        RolloutState *v;
        size_t n = 0;

        assert(rs);
        assert(ret);
        assert(ret_n);

        for (const RolloutEntry *e = rs->entries; e; e = e->next)
                n++;
        v = calloc(n + 1, sizeof *v);
        if (!v)
                return -ENOMEM;
        n = 0;
        for (const RolloutEntry *e = rs->entries; e; e = e->next)
                v[n++] = (RolloutState) { e->kind, e->namespace, e->name, e->health, e->since_usec };
        *ret = v;
        *ret_n = n;
        return 0;
}

void rollouts_count(const Rollouts *rs, unsigned ret[_ROLLOUT_HEALTH_MAX]) {
        assert(rs);
        assert(ret);

        memset(ret, 0, sizeof(unsigned) * _ROLLOUT_HEALTH_MAX);
        for (const RolloutEntry *e = rs->entries; e; e = e->next)
                ret[e->health]++;
}

int rollouts_summary(const Rollouts *rs, char **ret) {
        unsigned n[_ROLLOUT_HEALTH_MAX], total = 0;
        StrBuf b = { 0 };

        assert(rs);
        assert(ret);

        rollouts_count(rs, n);
        for (int i = 0; i < _ROLLOUT_HEALTH_MAX; i++)
                total += n[i];
        *ret = NULL;
        if (total == 0)
                return 0;
        strbuf_printf(&b, "%u/%u workloads available", n[ROLLOUT_AVAILABLE], total);
        for (const RolloutEntry *e = rs->entries; e; e = e->next)
                if (e->health == ROLLOUT_FAILING)
                        strbuf_printf(&b, ", %s failing: %s", e->name, e->reason);
        for (const RolloutEntry *e = rs->entries; e; e = e->next)
                if (e->health == ROLLOUT_PROGRESSING)
                        strbuf_printf(&b, ", %s rolling out", e->name);
                else if (e->health == ROLLOUT_UNKNOWN)
                        strbuf_printf(&b, ", %s unknown", e->name);
        *ret = strbuf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

int rollouts_failures(const Rollouts *rs, char **ret) {
        StrBuf b = { 0 };

        assert(rs);
        assert(ret);

        for (const RolloutEntry *e = rs->entries; e; e = e->next)
                if (e->health == ROLLOUT_FAILING || e->health == ROLLOUT_UNKNOWN)
                        strbuf_printf(&b, "%s%s: %s%s", b.len ? "; " : "", e->name,
                                      e->health == ROLLOUT_FAILING ? "failing: " : "unknown: ", e->message);
        if (b.len == 0 && !b.oom) {
                *ret = NULL;
                return 0;
        }
        *ret = strbuf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

/* ---- the runtime file --------------------------------------------------------------- */

static cJSON *runtime_json(const Rollouts *rs) {
        cJSON *j = cJSON_CreateObject(), *arr;

        if (!j)
                return NULL;
        cJSON_AddNumberToObject(j, "pid", (double) getpid());
        arr = cJSON_AddArrayToObject(j, "workloads");
        for (const RolloutEntry *e = rs->entries; arr && e; e = e->next) {
                cJSON *o = cJSON_CreateObject();
                if (!o || !cJSON_AddItemToArray(arr, o)) {
                        cJSON_Delete(o);
                        break;
                }
                cJSON_AddStringToObject(o, "kind", e->kind);
                if (e->namespace)
                        cJSON_AddStringToObject(o, "namespace", e->namespace);
                cJSON_AddStringToObject(o, "name", e->name);
                cJSON_AddStringToObject(o, "health", rollout_health_to_string(e->health));
                cJSON_AddStringToObject(o, "reason", e->reason);
                cJSON_AddStringToObject(o, "message", e->message);
                cJSON_AddStringToObject(o, "since", e->since);
                cJSON_AddNumberToObject(o, "generation", (double) e->generation);
        }
        return j;
}

/* Saves the runtime file now (it is also saved on every change). */
static int rollouts_save(Rollouts *rs) {
        _cleanup_(cJSON_Deletep) cJSON *j = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        if (!rs->runtime_path)
                return 0;
        j = runtime_json(rs);
        text = j ? cJSON_PrintUnformatted(j) : NULL;
        if (!text)
                return -ENOMEM;
        if (rs->saved && streq(rs->saved, text))
                return 0; /* no fsync for nothing */
        r = write_file_atomic(rs->runtime_path, text, strlen(text), 0600, false);
        if (r < 0)
                return log_debug_errno(r, "Failed to save '%s': %s", rs->runtime_path, STRERROR(r));
        free(rs->saved);
        rs->saved = TAKE_PTR(text);
        return 0;
}

void rollouts_remove_runtime(Rollouts *rs) {
        assert(rs);

        if (rs->runtime_path && unlink(rs->runtime_path) < 0 && errno != ENOENT)
                log_debug_errno(errno, "Failed to remove '%s': %s", rs->runtime_path, STRERROR(errno));
        free(rs->saved);
        rs->saved = NULL;
}

int rollouts_runtime_load(const char *state_dir, cJSON **ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_(cJSON_Deletep) cJSON *j = NULL;
        const cJSON *pid;
        pid_t holder = 0;
        int r;

        assert(state_dir);
        assert(ret);

        *ret = NULL;
        if (asprintf(&path, "%s/%s", state_dir, ROLLOUTS_RUNTIME_FILE) < 0)
                return -ENOMEM;
        r = read_full_file(path, 4 * 1024 * 1024, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        j = cJSON_Parse(text);
        pid = cJSON_GetObjectItemCaseSensitive(j, "pid");
        if (!cJSON_IsNumber(pid))
                return 0; /* not ours, or cut: as good as none */
        /* Only the daemon that still holds the state directory knows. */
        r = lock_dir_holder(state_dir, &holder);
        if (r <= 0 || holder != (pid_t) pid->valuedouble)
                return 0;
        *ret = TAKE_PTR(j);
        return 0;
}

void rollouts_runtime_lookup(const cJSON *view, const char *kind, const char *namespace, const char *name,
                             RolloutHealthInfo *ret) {
        const cJSON *o;

        assert(kind);
        assert(name);
        assert(ret);

        *ret = (RolloutHealthInfo) { .health = ROLLOUT_UNKNOWN };
        cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(view, "workloads")) {
                const char *k = json_string(o, "kind"), *ns = json_string(o, "namespace"), *n = json_string(o, "name");
                const char *reason = json_string(o, "reason");
                if (!k || !n || !streq(k, kind) || !streq(n, name) ||
                    !streq(strempty(ns) ? "" : ns, strempty(namespace) ? "" : namespace))
                        continue;
                *ret = (RolloutHealthInfo) {
                        .health = rollout_health_from_string(json_string(o, "health")),
                        .reason = strempty(reason) ? NULL : reason,
                        .message = json_string(o, "message"),
                        .since = json_string(o, "since"),
                };
                return;
        }
}
