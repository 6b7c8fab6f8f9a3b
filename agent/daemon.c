/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon: one sd-event loop around the asynchronous pass (pass.h). It
 * watches values.env with inotify (daemon-values.c, which follows the file
 * through directory swaps and symlinks) and starts a pass as soon as an
 * edit is complete (the writer closed the file, or renamed it into place);
 * a write left open starts one after a quiet period. An edit during a pass
 * cancels nothing and schedules exactly one follow-up pass. Failed passes
 * retry with capped exponential backoff, a periodic resync repairs drift,
 * and the sd_notify protocol is spoken (READY, STATUS, RELOADING, STOPPING,
 * WATCHDOG). After a pass that changed a workload, daemon-rollouts.c
 * follows its rollout (journal lines, STATUS= when one settles). After each
 * pass and each rollout that settles, the metrics file is written
 * (daemon-metrics.c): never on a timer of its own. Idle, only the resync
 * and watchdog timers wake it; a while after the last pass it closes its
 * connections, which unloads libcurl and libpq.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "daemon-metrics.h"
#include "daemon-rollouts.h"
#include "daemon-values.h"
#include "daemon.h"
#include "pass.h"
#include "util/clock.h"
#include "util/log-messages.h"
#include "util/log.h"

#define BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
/* A complete edit this soon after the previous one is part of a burst (a
 * script writing several times): the pass waits until the burst has been
 * quiet this long, so a burst costs one more pass, not one per write. An
 * edit after a quiet spell is applied at once. */
#define BURST_USEC (100 * USEC_PER_MSEC)
#define BACKOFF_MAX_USEC (300 * USEC_PER_SEC)
/* A pass's deadline: below half the watchdog period, and this without one. */
#define PASS_DEADLINE_MAX_USEC (30 * USEC_PER_SEC)
#define PASS_DEADLINE_MIN_USEC (200 * USEC_PER_MSEC)

typedef struct Loop {
        Manager *m;
        const DaemonOptions *opts;
        sd_event *event;
        Pass *pass;       /* the pass in progress, or NULL */
        PassCache *cache; /* what the passes learned of the cluster */
        usec_t pass_deadline_usec;
        ValuesWatch *watch;
        sd_event_source *settle;
        sd_event_source *burst;
        uint64_t last_edit_usec;
        sd_event_source *retry;
        sd_event_source *resync;
        sd_event_source *idle_close;
        sd_event_source *watchdog;
        uint64_t watchdog_usec;
        uint64_t backoff_usec;
        unsigned pending;    /* a pass is asked for while one runs: its flags (PENDING_PASS set) */
        unsigned passes; /* started */
        bool ready_sent;
        bool reloading;
        bool stopping;
        uint64_t max_dispatch_nsec; /* CPU of the longest loop iteration since the last pass */
        Rollouts *rollouts;  /* NULL: rollouts are not followed */
        Metrics *metrics;
        usec_t pass_started_usec;
        /* The last pass, for the rollouts' STATUS= (the ledger is dropped when idle) */
        bool last_pass_ok;
        unsigned long long last_generation;
        char *last_pass_status;
        bool check_rollouts; /* the next pass that succeeds looks at every workload's health */
} Loop;

#define PENDING_PASS (1u << 31)

static int arm(sd_event_source **s, sd_event *e, uint64_t usec, sd_event_time_handler_t cb, void *userdata) {
        int r;

        if (*s) {
                r = sd_event_source_set_time(*s, usec);
                if (r >= 0)
                        r = sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
                return r;
        }
        return sd_event_add_time(e, s, CLOCK_MONOTONIC, usec, 1000, cb, userdata);
}

static void disarm(sd_event_source *s) {
        if (s)
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

static void notify_status(Loop *l, const char *status) {
        const char *path = manager_options(l->m)->values_path;

        if (!l->ready_sent) {
                (void) sd_notifyf(false, "READY=1\nSTATUS=%s; watching %s", status, path);
                l->ready_sent = true;
                return;
        }
        (void) sd_notifyf(false, "STATUS=%s; watching %s", status, path);
        if (l->reloading) {
                (void) sd_notify(false, "READY=1");
                l->reloading = false;
        }
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);
static int on_resync(sd_event_source *s, uint64_t usec, void *userdata);
static int on_idle_close(sd_event_source *s, uint64_t usec, void *userdata);
static void on_pass_done(int r, PassResult *res, void *userdata);

/* A pass failed (why: its status line, what it logged first): the one
 * entry of that event, and the retry. */
static void schedule_retry(Loop *l, const char *why) {
        uint64_t jitter;

        l->backoff_usec = l->backoff_usec ? l->backoff_usec * 2 : BACKOFF_MIN_USEC;
        if (l->backoff_usec > BACKOFF_MAX_USEC)
                l->backoff_usec = BACKOFF_MAX_USEC;
        jitter = (uint64_t) random() % (l->backoff_usec / 4 + 1);
        log_struct(LOG_WARNING, 0, LOG_FIELDS(.message_id = NAP_MESSAGE_PASS_FAILED), "pass failed: %s; retrying in %.1f s",
                   why, (double) (l->backoff_usec + jitter) / 1e6);
        (void) arm(&l->retry, l->event, now_usec() + l->backoff_usec + jitter, on_retry, l);
}

static void schedule_resync(Loop *l) {
        if (l->opts->resync_usec != USEC_INFINITY)
                (void) arm(&l->resync, l->event, now_usec() + l->opts->resync_usec, on_resync, l);
}

/* Starts a pass, or, while one runs, asks for exactly one more after it. */
static void run_pass(Loop *l, unsigned flags) {
        int r;

        if (l->stopping)
                return;
        if (l->pass) {
                l->pending |= flags | PENDING_PASS;
                return;
        }
        flags |= l->pending & ~PENDING_PASS;
        l->pending = 0;
        disarm(l->retry);
        disarm(l->idle_close);
        r = pass_start(l->m, l->cache, &(PassOptions) { .flags = flags, .deadline_usec = l->pass_deadline_usec },
                       on_pass_done, l, &l->pass);
        if (r < 0) {
                log_error_errno(r, "Failed to start a pass: %s", STRERROR(r));
                schedule_retry(l, STRERROR(r));
                return;
        }
        l->pass_started_usec = now_usec();
        log_debug("pass %u starting%s", ++l->passes, flags & PASS_RESYNC ? " (resync)" : "");
}

/* What a pass wrote is followed until it runs (or fails to); after a
 * start or a reload, every workload is looked at once. */
static void follow_rollouts(Loop *l, int r, const PassResult *res) {
        if (!l->rollouts)
                return;
        if (rollouts_follow(l->rollouts, res) < 0 ||
            rollouts_sync(l->rollouts, manager_ledger_loaded(l->m), l->check_rollouts && r >= 0) < 0)
                log_warning("Out of memory while following rollouts, ignoring");
        if (r >= 0)
                l->check_rollouts = false;
}

/* The metrics file, with where the workloads stand and every request so
 * far; running false: the last one, of a daemon that stops. */
static void write_metrics(Loop *l, bool running) {
        _cleanup_free_ RolloutState *states = NULL;
        _cleanup_free_ MetricsWorkload *w = NULL;
        KubeRequests req, watches;
        size_t n = 0;

        if (!l->metrics || !metrics_path(l->metrics))
                return;
        manager_kube_requests(l->m, &req);
        if (l->rollouts) {
                rollouts_requests(l->rollouts, &watches);
                kube_requests_add(&req, &watches);
                if (rollouts_states(l->rollouts, &states, &n) < 0)
                        n = 0;
        }
        w = calloc(n + 1, sizeof *w);
        if (!w)
                return;
        for (size_t i = 0; i < n; i++)
                w[i] = (MetricsWorkload) { states[i].kind, states[i].name, states[i].health, states[i].since_usec };
        (void) metrics_write(l->metrics, &(MetricsSnapshot) { .workloads = w, .n_workloads = n, .requests = &req,
                                                              .running = running });
}

/* What a pass ended with, for the metrics. */
static void count_pass(Loop *l, int r, const PassResult *res) {
        MetricsPass p = {
                .result = r >= 0 ? METRICS_PASS_SUCCESS : res->invalid_values ? METRICS_PASS_REFUSED : METRICS_PASS_FAILURE,
                .end_usec = now_realtime_usec(),
                .duration_usec = now_usec() - l->pass_started_usec,
                .generation = res->generation,
                .drift_repairs = res->objects_repaired + res->clients_repaired,
                .pending_changes = r >= 0 ? 0 : res->pending_changes,
                .clients_registered = res->clients_registered,
                .clients_kept = res->clients_kept,
        };

        metrics_pass_done(l->metrics, &p);
}

/* The pass's STATUS=, and the rollouts' summary while one fails (a failing
 * rollout stays visible until it is fixed). */
static void notify_pass(Loop *l, const PassResult *res) {
        _cleanup_free_ char *summary = NULL, *text = NULL;
        unsigned n[_ROLLOUT_HEALTH_MAX] = { 0 };
        const char *status = res->status ? res->status : "pass finished";

        if (l->rollouts)
                rollouts_count(l->rollouts, n);
        if (n[ROLLOUT_FAILING] && rollouts_summary(l->rollouts, &summary) >= 0 && summary &&
            asprintf(&text, "%s; %s", status, summary) >= 0)
                status = text;
        notify_status(l, status);
}

/* A rollout settled: STATUS= says where every workload stands. */
static void on_rollouts_changed(Rollouts *rs, void *userdata) {
        _cleanup_free_ char *summary = NULL, *text = NULL;
        Loop *l = userdata;
        int r;

        if (!l->stopping)
                write_metrics(l, true);
        if (l->stopping || !l->ready_sent || l->reloading || rollouts_summary(rs, &summary) < 0 || !summary)
                return;
        if (l->last_pass_ok)
                r = asprintf(&text, "generation %llu applied; %s", l->last_generation, summary);
        else
                r = asprintf(&text, "%s; %s", l->last_pass_status ? l->last_pass_status : "no pass yet", summary);
        if (r >= 0)
                notify_status(l, text);
        if (!rollouts_busy(rs) && !manager_connected(l->m))
                (void) malloc_trim(0); /* the last watch went after the idle close */
}

static void on_pass_done(int r, PassResult *res, void *userdata) {
        Loop *l = userdata;

        l->pass = NULL; /* freed once this returns */
        if (l->opts->idle_close_usec != USEC_INFINITY)
                (void) arm(&l->idle_close, l->event, now_usec() + l->opts->idle_close_usec, on_idle_close, l);
        l->last_pass_ok = r >= 0;
        l->last_generation = res->generation;
        free(l->last_pass_status);
        l->last_pass_status = res->status ? strdup(res->status) : NULL;
        follow_rollouts(l, r, res);
        count_pass(l, r, res);
        write_metrics(l, true);
        notify_pass(l, res);
        log_debug("pass %u done; the longest loop iteration since the last pass took %.2f ms of CPU", l->passes,
                  l->max_dispatch_nsec / 1e6);
        l->max_dispatch_nsec = 0;
        if (r >= 0) {
                l->backoff_usec = 0;
                if (pass_result_wrote(res))
                        log_struct(LOG_INFO, 0, LOG_FIELDS(.message_id = NAP_MESSAGE_PASS_APPLIED), "%s", res->status);
        } else if (res->invalid_values)
                /* The diagnostics were logged; retrying cannot help: wait for the next edit. */
                log_struct(LOG_WARNING, 0, LOG_FIELDS(.message_id = NAP_MESSAGE_VALUES_REFUSED),
                           "%s refused (%s): nothing applied, nothing deleted; keeping generation %llu; waiting for "
                           "the next edit", manager_options(l->m)->values_path, strna(res->status), res->generation);
        else if (!(l->pending & PENDING_PASS))
                schedule_retry(l, strna(res->status)); /* the pass logged the details */
        if ((l->pending & PENDING_PASS) && !(l->burst && sd_event_source_get_enabled(l->burst, NULL) > 0)) {
                unsigned flags = l->pending & ~PENDING_PASS;
                l->pending = 0;
                run_pass(l, flags);
        }
}

static int on_burst_over(sd_event_source *s, uint64_t usec, void *userdata) {
        Loop *l = userdata;

        log_debug("a burst of edits is over: one pass for all of it");
        run_pass(l, 0);
        return 0;
}

/* An edit is complete: a pass now, whatever the backoff (or, within a
 * burst of edits, once the burst is over). */
static void on_edit(void *userdata) {
        Loop *l = userdata;
        uint64_t now = now_usec();
        bool burst = now - l->last_edit_usec < BURST_USEC;

        l->last_edit_usec = now;
        disarm(l->settle);
        l->backoff_usec = 0;
        if (burst) {
                (void) arm(&l->burst, l->event, now + BURST_USEC, on_burst_over, l);
                return;
        }
        run_pass(l, 0);
}

static int on_settled(sd_event_source *s, uint64_t usec, void *userdata) {
        log_debug("values file quiet for %.0f ms: treating the write as complete",
                  (double) ((Loop *) userdata)->opts->settle_usec / 1000.0);
        on_edit(userdata);
        return 0;
}

/* A write that is not closed yet: a pass once it has been quiet a while. */
static void on_partial_edit(void *userdata) {
        Loop *l = userdata;

        (void) arm(&l->settle, l->event, now_usec() + l->opts->settle_usec, on_settled, l);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        run_pass(userdata, 0);
        return 0;
}

static int on_resync(sd_event_source *s, uint64_t usec, void *userdata) {
        Loop *l = userdata;

        log_debug("periodic resync");
        run_pass(l, PASS_RESYNC);
        schedule_resync(l);
        return 0;
}

/* Nothing has happened for a while: the next edit may be hours away. Closing
 * the connections unloads libcurl and libpq with all they pulled in (LDAP,
 * Kerberos, GnuTLS), and the heap they used goes back to the kernel. */
static int on_idle_close(sd_event_source *s, uint64_t usec, void *userdata) {
        Loop *l = userdata;

        if (l->pass)
                return 0; /* the pass re-arms it when it ends */
        manager_idle(l->m);
        (void) malloc_trim(0);
        log_debug("idle: connections closed, libcurl and libpq unloaded, the ledger saved and dropped");
        return 0;
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata) {
        Loop *l = userdata;

        (void) sd_notify(false, "WATCHDOG=1");
        return arm(&l->watchdog, l->event, now_usec() + l->watchdog_usec / 4, on_watchdog, l);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Loop *l = userdata;

        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
                          (unsigned long long) now_usec());
        log_info("reloading: re-reading values.env, the kubeconfig and the ledger");
        /* What is in flight is dropped (its intents are kept and saved), so
         * the reload does not wait on a slow server. */
        pass_cancel(l->pass, "reloading", NULL);
        l->pass = NULL;
        l->pending = 0;
        if (l->rollouts) {
                rollouts_stop(l->rollouts); /* watched again with the kubeconfig read anew */
                l->check_rollouts = true;
        }
        pass_cache_forget(l->cache); /* the kubeconfig may name another cluster now */
        (void) manager_reload(l->m);
        (void) values_watch_refresh(l->watch);
        l->reloading = true; /* READY=1 follows the next pass */
        run_pass(l, 0);
        return 0;
}

static int on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Loop *l = userdata;

        log_info("stopping on %s", si->ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        l->stopping = true;
        /* What is in flight is dropped, its intents saved: exit at once. */
        if (l->pass) {
                _cleanup_free_ char *status = NULL;
                pass_cancel(l->pass, "stopping", &status);
                l->pass = NULL;
                if (status) {
                        log_info("%s", status);
                        notify_status(l, status);
                }
        }
        (void) sd_notify(false, "STOPPING=1\nSTATUS=stopping");
        return sd_event_exit(l->event, 0);
}

static void loop_free(Loop *l) {
        pass_cancel(l->pass, NULL, NULL);
        metrics_free(l->metrics);
        rollouts_free(l->rollouts);
        pass_cache_free(l->cache);
        free(l->last_pass_status);
        values_watch_free(l->watch);
        sd_event_source_disable_unref(l->settle);
        sd_event_source_disable_unref(l->burst);
        sd_event_source_disable_unref(l->retry);
        sd_event_source_disable_unref(l->resync);
        sd_event_source_disable_unref(l->idle_close);
        sd_event_source_disable_unref(l->watchdog);
}

static int setup_signals(Loop *l) {
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return negative_errno();
        if ((r = sd_event_add_signal(l->event, NULL, SIGTERM, on_stop, l)) < 0 ||
            (r = sd_event_add_signal(l->event, NULL, SIGINT, on_stop, l)) < 0 ||
            (r = sd_event_add_signal(l->event, NULL, SIGHUP, on_sighup, l)) < 0)
                return r;
        return 0;
}

/* WATCHDOG=1 every quarter of WatchdogSec: a gap never comes near it. */
static int setup_watchdog(Loop *l) {
        int r = sd_watchdog_enabled(false, &l->watchdog_usec);

        if (r <= 0)
                return r;
        return on_watchdog(NULL, 0, l);
}

static uint64_t thread_cpu_nsec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* sd_event_loop(), measuring the CPU each iteration takes. */
static int loop_run(Loop *l) {
        int r;

        for (;;) {
                uint64_t t = thread_cpu_nsec(), d;

                r = sd_event_run(l->event, UINT64_MAX);
                d = thread_cpu_nsec() - t;
                if (d > l->max_dispatch_nsec)
                        l->max_dispatch_nsec = d;
                if (r < 0)
                        return r;
                if (sd_event_get_state(l->event) == SD_EVENT_FINISHED)
                        return 0;
        }
}

/* Every request and the whole pass end within less than half the
 * watchdog interval (and 30 s without one): a stalled server makes a pass
 * fail and retry, never a silent daemon. */
static void set_deadlines(Loop *l) {
        ManagerOptions *o = manager_options(l->m);
        usec_t pass = PASS_DEADLINE_MAX_USEC;
        unsigned ms;

        if (l->watchdog_usec > 0 && l->watchdog_usec * 45 / 100 < pass)
                pass = l->watchdog_usec * 45 / 100;
        if (pass < PASS_DEADLINE_MIN_USEC)
                pass = PASS_DEADLINE_MIN_USEC;
        l->pass_deadline_usec = pass;
        /* One call, its retries included: a few seconds, then the pass
         * fails and the daemon's own backoff takes over. */
        ms = (unsigned) (pass / USEC_PER_MSEC);
        if (!o->kube_options.deadline_ms)
                o->kube_options.deadline_ms = ms < 5000 ? ms : 5000;
        if (!o->kube_options.request_timeout_ms)
                o->kube_options.request_timeout_ms = ms < 10000 ? ms : 10000;
        if (!o->kube_options.connect_timeout_ms)
                o->kube_options.connect_timeout_ms = ms < 5000 ? ms : 5000;
        if (!o->oauth_options.deadline_ms)
                o->oauth_options.deadline_ms = ms;
        if (!o->oauth_options.connect_timeout_s)
                o->oauth_options.connect_timeout_s = ms < 5000 ? (ms + 999) / 1000 : 5;
        if (!o->oauth_options.statement_timeout_ms)
                o->oauth_options.statement_timeout_ms = ms < 5000 ? ms : 5000;
}

/* --metrics-dir, else node_exporter's textfile directory when it exists. */
static int setup_metrics(Loop *l) {
        const char *dir = l->opts->metrics_dir ? l->opts->metrics_dir : metrics_default_dir();
        usec_t resync = l->opts->resync_usec == USEC_INFINITY ? 0 : l->opts->resync_usec;
        int r;

        r = metrics_new(strempty(dir) ? NULL : dir, now_realtime_usec(), resync, &l->metrics);
        if (r < 0)
                return log_error_errno(r, "Out of memory");
        if (metrics_path(l->metrics))
                log_info("metrics to '%s' after each pass (node_exporter's textfile collector)", metrics_path(l->metrics));
        else
                log_debug("no metrics: no --metrics-dir, and no node_exporter textfile directory");
        return 0;
}

static int setup_rollouts(Loop *l) {
        _cleanup_free_ char *path = NULL;
        RolloutsOptions o = { .timeout_usec = l->opts->rollout_timeout_usec };
        int r;

        if (l->opts->rollout_timeout_usec == 0)
                return 0;
        if (asprintf(&path, "%s/%s", manager_state_dir(l->m), ROLLOUTS_RUNTIME_FILE) < 0)
                return log_error_errno(ENOMEM, "Out of memory");
        o.runtime_path = path;
        r = rollouts_new(l->m, &o, on_rollouts_changed, l, &l->rollouts);
        if (r < 0)
                return log_error_errno(r, "Failed to set up following rollouts: %s", STRERROR(r));
        l->check_rollouts = true;
        return 0;
}

int daemon_run(Manager *m, const DaemonOptions *opts) {
        Loop l = { .m = m, .opts = opts, .event = manager_event(m) };
        const char *values = manager_options(m)->values_path;
        Ledger *ledger;
        int r;

        srandom((unsigned) now_usec() ^ (unsigned) getpid());
        if ((r = setup_signals(&l)) < 0 || (r = setup_watchdog(&l)) < 0) {
                log_error_errno(r, "Failed to set up signals or the watchdog: %s", STRERROR(r));
                goto finish;
        }
        set_deadlines(&l);
        r = pass_cache_new(&l.cache);
        if (r < 0) {
                log_error_errno(r, "Out of memory");
                goto finish;
        }
        r = values_watch_new(l.event, values, on_edit, on_partial_edit, &l, &l.watch);
        if (r < 0)
                goto finish;
        r = setup_rollouts(&l);
        if (r < 0)
                goto finish;
        (void) log_context_set(LOG_CONTEXT_VALUES, values);
        log_info("nap-agent watching '%s', state in '%s'", values, manager_state_dir(m));
        r = setup_metrics(&l);
        if (r < 0)
                goto finish;

        /* The first pass runs at once; READY=1 follows it whatever its
         * outcome, so boot never waits on an unreachable API server. */
        run_pass(&l, 0);
        schedule_resync(&l);
        r = loop_run(&l);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %s", STRERROR(r));
        pass_cancel(l.pass, NULL, NULL);
        l.pass = NULL;
        if (l.rollouts)
                rollouts_remove_runtime(l.rollouts); /* no daemon, no view: `status` says unknown */
        write_metrics(&l, false); /* the last word: stopped, so its numbers are not stale ones */
        ledger = manager_ledger_loaded(m);
        r = ledger ? ledger_commit(ledger) : 0;
        if (r < 0)
                log_warning_errno(r, "Failed to save the ledger on exit: %s", STRERROR(r));
        r = 0;
finish:
        loop_free(&l);
        return r;
}
