/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon: one sd-event loop around the asynchronous pass (pass.h). It
 * watches values.env with inotify (daemon-values.c, which follows the file
 * through symlinks, directory swaps and hard links) and starts a pass as
 * soon as an edit is complete (the writer closed the file, or something was
 * renamed or re-pointed into place). A file written and not closed yet is
 * not read until its writer closes it, for at most --close-wait; a file
 * that went away, or came back through a directory change, after a quiet
 * period (--settle). The CLI's `apply` and `seed` hand their pass to it
 * through the control socket (daemon-control.c). An edit or a request
 * during a pass cancels nothing and schedules exactly one more pass. Failed passes
 * retry with capped exponential backoff, a periodic resync repairs drift,
 * and the sd_notify protocol is spoken (READY, STATUS, RELOADING, STOPPING,
 * WATCHDOG). After a pass that changed a workload, daemon-rollouts.c
 * follows its rollout (journal lines, STATUS= when one settles). After each
 * pass and each rollout that settles, the metrics file is written
 * (daemon-metrics.c): never on a timer of its own. Idle, only the resync
 * and watchdog timers wake it; a while after the last pass it closes its
 * connections, which unloads libcurl and libpq.
 */
#include <assert.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "daemon-control.h"
#include "daemon-internal.h"
#include "daemon-rollouts.h"
#include "daemon.h"
#include "pass.h"
#include "util/clock.h"
#include "util/defaults.h"
#include "util/log-messages.h"
#include "util/log.h"
#include "util/strbuf.h"

#define BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
/* A complete edit this soon after the previous one is part of a burst (a
 * script writing several times): the pass waits until the burst has been
 * quiet this long, so a burst costs one more pass, not one per write. An
 * edit after a quiet spell is applied at once. */
#define BURST_USEC (100 * USEC_PER_MSEC)
#define BACKOFF_MAX_USEC (300 * USEC_PER_SEC)

typedef struct Loop {
        Manager *m;
        const DaemonOptions *opts;
        sd_event *event;
        Pass *pass;       /* the pass in progress, or NULL */
        PassCache *cache; /* what the passes learned of the cluster */
        usec_t pass_deadline_usec;
        ValuesSearch *values;       /* the candidates for values.env, and the one in use */
        Control *control;           /* NULL: the CLI cannot hand passes over */
        sd_event_source *settle;     /* values.env gone or back: a pass once it has been quiet */
        sd_event_source *close_wait; /* values.env written, not closed: the bound on waiting for the writer */
        usec_t writing_since;        /* the first write not closed yet, or 0 */
        sd_event_source *burst;
        usec_t last_edit_usec;
        sd_event_source *retry;
        sd_event_source *resync;
        sd_event_source *idle_close;
        sd_event_source *watchdog;
        usec_t watchdog_usec;
        usec_t backoff_usec;
        bool pending;           /* a pass is asked for while one runs (or while a writer has the file) */
        unsigned pending_flags; /* PASS_* of that pass */
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

static int arm(sd_event_source **s, sd_event *e, usec_t usec, sd_event_time_handler_t cb, void *userdata) {
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

/* STATUS= (with READY=1 the first time, and after a reload); watching:
 * the file in use is named after the status. */
static void notify_text(Loop *l, const char *status, bool watching) {
        const char *path = manager_options(l->m)->values_path;

        if (!l->ready_sent) {
                (void) sd_notifyf(false, "READY=1\nSTATUS=%s%s%s", status, watching ? "; watching " : "",
                                  watching ? path : "");
                l->ready_sent = true;
                return;
        }
        (void) sd_notifyf(false, "STATUS=%s%s%s", status, watching ? "; watching " : "", watching ? path : "");
        if (l->reloading) {
                (void) sd_notify(false, "READY=1");
                l->reloading = false;
        }
}

static void notify_status(Loop *l, const char *status) {
        notify_text(l, status, true);
}

static void write_metrics(Loop *l, bool running);

/* No values.env at any candidate: the one line and the STATUS= that say
 * where it is looked for and how to name another place; for the metrics,
 * a values.env that cannot be used. */
static void say_no_values(Loop *l, const char *gone) {
        const char *const *c = l->opts->values_candidates;
        _cleanup_free_ char *where = NULL, *line = NULL;
        StrBuf b = { 0 };
        int r;

        for (size_t i = 0; c && c[i]; i++)
                strbuf_printf(&b, "%s'%s'", i == 0 ? "" : c[i + 1] ? ", " : " or ", c[i]);
        if (!c)
                strbuf_printf(&b, "'%s'", manager_options(l->m)->values_path);
        where = strbuf_steal(&b);
        if (gone)
                log_struct(LOG_WARNING, 0, LOG_FIELDS(.message_id = NAP_MESSAGE_VALUES_REFUSED),
                           "'%s' is gone (deleted, or renamed away) and there is no values.env at %s: nothing "
                           "applied, nothing deleted; waiting for one to appear", gone, strna(where));
        else if (c && c[1]) /* the default places: a drop-in names another */
                log_notice("no values.env at %s: nothing is applied until one appears (for one elsewhere: "
                           "`systemctl edit nap-agent`, [Service] Environment=NAP_VALUES=/path/to/values.env); state "
                           "in '%s'", strna(where), manager_state_dir(l->m));
        else
                log_notice("no values.env at %s: nothing is applied until it appears; state in '%s'", strna(where),
                           manager_state_dir(l->m));
        if (gone)
                r = asprintf(&line, "waiting for values.env at %s: '%s' is gone; nothing applied, nothing deleted",
                             strna(where), gone);
        else
                r = asprintf(&line, "waiting for values.env at %s; nothing applied", strna(where));
        if (r >= 0)
                notify_text(l, line, false);
        if (l->metrics) {
                metrics_values_missing(l->metrics, now_realtime_usec());
                write_metrics(l, true);
        }
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);
static int on_resync(sd_event_source *s, uint64_t usec, void *userdata);
static int on_idle_close(sd_event_source *s, uint64_t usec, void *userdata);
static void on_pass_done(int r, PassResult *res, void *userdata);

/* A pass failed (why: its status line, what it logged first): the one
 * entry of that event, and the retry. */
static void schedule_retry(Loop *l, const char *why) {
        usec_t jitter;

        l->backoff_usec = l->backoff_usec ? l->backoff_usec * 2 : BACKOFF_MIN_USEC;
        if (l->backoff_usec > BACKOFF_MAX_USEC)
                l->backoff_usec = BACKOFF_MAX_USEC;
        jitter = (usec_t) random() % (l->backoff_usec / 4 + 1);
        log_struct(LOG_WARNING, 0, LOG_FIELDS(.message_id = NAP_MESSAGE_PASS_FAILED), "pass failed: %s; retrying in %.1f s",
                   why, (double) (l->backoff_usec + jitter) / USEC_PER_SEC);
        (void) arm(&l->retry, l->event, now_usec() + l->backoff_usec + jitter, on_retry, l);
}

static void schedule_resync(Loop *l) {
        if (l->opts->resync_usec != USEC_INFINITY)
                (void) arm(&l->resync, l->event, now_usec() + l->opts->resync_usec, on_resync, l);
}

/* The flags of one pass that does what two asked for: a full pass when
 * either is one, re-reading what either wanted re-read (a seed re-reads
 * the oauth rows, so a full pass that must do it too is a resync). */
static unsigned merge_flags(unsigned a, unsigned b) {
        if ((a & PASS_CLIENTS_ONLY) && (b & PASS_CLIENTS_ONLY))
                return PASS_CLIENTS_ONLY | ((a | b) & PASS_RESYNC);
        return (a | b) & (PASS_RESYNC | PASS_CLIENTS_ONLY) ? PASS_RESYNC : 0;
}

/* Without a values.env no pass is started (its appearance is an edit): a
 * request of the CLI is answered with where it is looked for. */
static void no_values_for_requests(Loop *l) {
        PassResult none = { .invalid_values = true };

        none.status = (char *) "no values.env in any of the places it is looked for (see `journalctl -u nap-agent`): "
                               "nothing applied";
        control_pass_started(l->control);
        control_pass_done(l->control, -ENOENT, &none);
}

/* Starts a pass, or, while one runs or a writer has values.env open, asks
 * for exactly one more once that is over. */
static void run_pass(Loop *l, unsigned flags) {
        PassResult failed = { 0 };
        int r;

        if (l->stopping)
                return;
        if (l->pending)
                flags = merge_flags(flags, l->pending_flags);
        if (l->pass || l->writing_since) {
                l->pending = true;
                l->pending_flags = flags;
                return;
        }
        l->pending = false;
        /* Which candidate is read is decided now, once every writer is done. */
        if (!values_search_resolve(l->values)) {
                no_values_for_requests(l);
                return;
        }
        disarm(l->retry);
        disarm(l->idle_close);
        r = pass_start(l->m, l->cache, &(PassOptions) { .flags = flags, .deadline_usec = l->pass_deadline_usec },
                       on_pass_done, l, &l->pass);
        control_pass_started(l->control);
        if (r < 0) {
                log_error_errno(r, "Failed to start a pass: %s", STRERROR(r));
                /* e.g. the ledger became unreadable: STATUS= names the file */
                failed.status = (char *) (manager_ledger_error(l->m) ? manager_ledger_error(l->m) : STRERROR(r));
                notify_status(l, failed.status);
                control_pass_done(l->control, r, &failed);
                schedule_retry(l, failed.status);
                return;
        }
        l->pass_started_usec = now_usec();
        log_debug("pass %u starting%s%s", ++l->passes, flags & PASS_RESYNC ? " (resync)" : "",
                  flags & PASS_CLIENTS_ONLY ? " (oauth clients only)" : "");
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
        control_pass_done(l->control, r, res);
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
                           "%s; waiting for the next edit", res->status ? res->status : "values.env cannot be used");
        else if (!l->pending && !res->no_kubeconfig)
                schedule_retry(l, strna(res->status)); /* the pass logged the details */
        /* No kubeconfig: said in one line (the manager's); a retry cannot
         * help, SIGHUP or the next edit tries again. */
        if (l->pending && !(l->burst && sd_event_source_get_enabled(l->burst, NULL) > 0))
                run_pass(l, 0);
}

static int on_burst_over(sd_event_source *s, uint64_t usec, void *userdata) {
        Loop *l = userdata;

        log_debug("a burst of edits is over: one pass for all of it");
        run_pass(l, 0);
        return 0;
}

/* No writer to wait for any more. */
static void writer_done(Loop *l) {
        l->writing_since = 0;
        disarm(l->close_wait);
        disarm(l->settle);
}

/* An edit is complete: a pass now, whatever the backoff (or, within a
 * burst of edits, once the burst is over). */
static void on_edit(Loop *l) {
        usec_t now = now_usec();
        bool burst = now - l->last_edit_usec < BURST_USEC;

        l->last_edit_usec = now;
        writer_done(l);
        l->backoff_usec = 0;
        if (burst) {
                (void) arm(&l->burst, l->event, now + BURST_USEC, on_burst_over, l);
                return;
        }
        run_pass(l, 0);
}

static int on_settled(sd_event_source *s, uint64_t usec, void *userdata) {
        Loop *l = userdata;

        log_debug("values file quiet for %.0f ms: treating the change as complete",
                  (double) l->opts->settle_usec / (double) USEC_PER_MSEC);
        on_edit(l);
        return 0;
}

/* The writer kept the file open too long: what is there is read, and the
 * operator told how long the writer took (its close is an edit again). */
static int on_close_wait_over(sd_event_source *s, uint64_t usec, void *userdata) {
        Loop *l = userdata;

        log_warning("The writer of '%s' has kept it open %.1f s after its first write without closing it: applying "
                    "it as it is now (see --close-wait)", manager_options(l->m)->values_path,
                    (double) (now_usec() - l->writing_since) / (double) USEC_PER_SEC);
        on_edit(l);
        return 0;
}

static void on_values(ValuesChange change, void *userdata) {
        Loop *l = userdata;
        usec_t now = now_usec();

        switch (change) {
        case VALUES_COMPLETE:
                if (l->writing_since)
                        log_debug("the writer closed values.env %.3f s after its first write",
                                  (double) (now - l->writing_since) / (double) USEC_PER_SEC);
                on_edit(l);
                break;
        case VALUES_WRITING: /* nothing is read before its close */
                disarm(l->settle);
                if (!l->writing_since) {
                        l->writing_since = now;
                        (void) arm(&l->close_wait, l->event, now + l->opts->close_wait_usec, on_close_wait_over, l);
                }
                break;
        case VALUES_UNSURE: /* a writer of the file that went is no writer of ours */
                writer_done(l);
                (void) arm(&l->settle, l->event, now + l->opts->settle_usec, on_settled, l);
                break;
        }
}

/* The CLI asked for a pass (daemon-control.c): like an edit, it starts
 * one now whatever the backoff, or one more after the pass that runs. */
static void on_request(unsigned flags, void *userdata) {
        Loop *l = userdata;

        l->backoff_usec = 0;
        run_pass(l, flags);
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

/* The file in use changed: another candidate appeared before it in the
 * order, it went (another is read, or none), or the first appeared. */
static void on_values_switched(const char *now, const char *before, void *userdata) {
        Loop *l = userdata;

        if (!now) {
                say_no_values(l, before);
                return;
        }
        manager_options(l->m)->values_path = now;
        (void) log_context_set(LOG_CONTEXT_VALUES, now);
        control_set_values(l->control, now);
        if (before)
                log_notice("values.env: now '%s' (%s); '%s' is no longer read", now,
                           access(before, F_OK) < 0 ? "the one read before is gone" : "it comes first", before);
        else
                log_info("values.env: '%s' appeared: applying it", now);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Loop *l = userdata;
        const char *before;

        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
                          (unsigned long long) now_usec());
        log_info("reloading: re-reading values.env, the kubeconfig and the ledger");
        /* What is in flight is dropped (its intents are kept and saved), so
         * the reload does not wait on a slow server. */
        pass_cancel(l->pass, "reloading", NULL);
        l->pass = NULL;
        l->pending = false; /* the requests of the pass cancelled get the next one's result */
        if (l->rollouts) {
                rollouts_stop(l->rollouts); /* watched again with the kubeconfig read anew */
                l->check_rollouts = true;
        }
        pass_cache_forget(l->cache); /* the kubeconfig may name another cluster now */
        (void) manager_reload(l->m);
        (void) values_search_refresh(l->values);
        l->reloading = true; /* READY=1 follows the next pass */
        before = values_search_current(l->values);
        if (!values_search_resolve(l->values)) {
                if (!before)
                        say_no_values(l, NULL); /* (one that went was said by on_values_switched) */
                no_values_for_requests(l);
                return 0;
        }
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
        control_stop(l->control, "the daemon is stopping: no pass for this request");
        (void) sd_notify(false, "STOPPING=1\nSTATUS=stopping");
        return sd_event_exit(l->event, 0);
}

static void loop_free(Loop *l) {
        pass_cancel(l->pass, NULL, NULL);
        metrics_free(l->metrics);
        rollouts_free(l->rollouts);
        pass_cache_free(l->cache);
        free(l->last_pass_status);
        values_search_free(l->values);
        control_free(l->control);
        sd_event_source_disable_unref(l->settle);
        sd_event_source_disable_unref(l->close_wait);
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
static usec_t min_usec(usec_t a, usec_t b) {
        return a < b ? a : b;
}

static void set_deadlines(Loop *l) {
        ManagerOptions *o = manager_options(l->m);
        usec_t pass = DEFAULT_DAEMON_PASS_DEADLINE_USEC;

        if (l->watchdog_usec > 0 && l->watchdog_usec * 45 / 100 < pass)
                pass = l->watchdog_usec * 45 / 100;
        if (pass < MIN_DAEMON_PASS_DEADLINE_USEC)
                pass = MIN_DAEMON_PASS_DEADLINE_USEC;
        l->pass_deadline_usec = pass;
        /* One call, its retries included: a few seconds, then the pass
         * fails and the daemon's own backoff takes over. */
        if (!o->kube_options.deadline_usec)
                o->kube_options.deadline_usec = min_usec(pass, DEFAULT_DAEMON_KUBE_DEADLINE_USEC);
        if (!o->kube_options.request_timeout_usec)
                o->kube_options.request_timeout_usec = min_usec(pass, DEFAULT_KUBE_REQUEST_TIMEOUT_USEC);
        if (!o->kube_options.connect_timeout_usec)
                o->kube_options.connect_timeout_usec = min_usec(pass, DEFAULT_KUBE_CONNECT_TIMEOUT_USEC);
        if (!o->oauth_options.deadline_usec)
                o->oauth_options.deadline_usec = pass;
        if (!o->oauth_options.connect_timeout_usec)
                o->oauth_options.connect_timeout_usec = min_usec(pass, DEFAULT_OAUTH_CONNECT_TIMEOUT_USEC);
        if (!o->oauth_options.statement_timeout_usec)
                o->oauth_options.statement_timeout_usec = min_usec(pass, DEFAULT_OAUTH_STATEMENT_TIMEOUT_USEC);
}

/* Without it the CLI's `apply` refuses beside the daemon, as it did. */
static void setup_control(Loop *l) {
        ControlOptions o = {
                .state_dir = manager_state_dir(l->m),
                .values_path = manager_options(l->m)->values_path,
                .kubeconfig = manager_options(l->m)->kubeconfig,
        };
        int r = control_new(l->event, &o, on_request, l, &l->control);

        if (r < 0)
                log_warning_errno(r, "Cannot listen on '%s/%s': %s; `nap-agent apply` and `seed` refuse while the "
                                  "daemon runs", o.state_dir, CONTROL_SOCKET, STRERROR(r));
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

/* The first line: the file in use and why, or where it is looked for. */
static int setup_values(Loop *l) {
        const char *alone[] = { manager_options(l->m)->values_path, NULL };
        const char *const *c = l->opts->values_candidates ? l->opts->values_candidates : alone;
        const char *now;
        int r;

        r = values_search_new(l->event, c, on_values, on_values_switched, l, &l->values);
        if (r < 0)
                return log_error_errno(r, "Failed to watch for values.env: %s", STRERROR(r));
        now = values_search_current(l->values);
        if (!now) {
                say_no_values(l, NULL);
                return 0;
        }
        manager_options(l->m)->values_path = now;
        if (l->opts->values_origin)
                log_info("nap-agent watching '%s' (%s), state in '%s'", now, l->opts->values_origin,
                         manager_state_dir(l->m));
        else
                log_info("nap-agent watching '%s', state in '%s'", now, manager_state_dir(l->m));
        return 0;
}

int daemon_run(Manager *m, const DaemonOptions *opts) {
        Loop l = { .m = m, .opts = opts };
        Ledger *ledger;
        int r;

        assert(m);
        assert(opts);

        l.event = manager_event(m);
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
        r = setup_values(&l);
        if (r < 0)
                goto finish;
        (void) log_context_set(LOG_CONTEXT_VALUES, manager_options(m)->values_path);
        setup_control(&l);
        r = setup_rollouts(&l);
        if (r < 0)
                goto finish;
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
