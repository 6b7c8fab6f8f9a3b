/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon: one sd-event loop around manager_pass(). It watches the
 * directory of values.env with inotify (so in-place writes, rename-over,
 * `sed -i`, `cp` and symlink swaps are all seen), coalesces bursts with a
 * short debounce, retries failed passes with capped exponential backoff,
 * re-applies everything periodically to repair drift, and speaks the
 * sd_notify protocol (READY, STATUS, RELOADING, STOPPING, WATCHDOG).
 * Idle, it sleeps in the event loop: only the resync and watchdog timers
 * wake it. A while after the last pass it closes its connections, which
 * unloads libcurl and libpq, so it idles small.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "manager.h"
#include "util/fs.h"
#include "util/log.h"

#define BACKOFF_MIN_USEC (1ULL * 1000000ULL)
#define BACKOFF_MAX_USEC (300ULL * 1000000ULL)
/* One API call, its in-call retries included. The client's default (30 s)
 * suits a one-shot `apply`; the daemon has its own backoff, and READY=1,
 * SIGHUP and new edits all wait for the pass in progress. */
#define DAEMON_CALL_DEADLINE_MS 5000

typedef struct Loop {
        Manager *m;
        const LoopOptions *opts;
        sd_event *event;
        sd_event_source *debounce;
        sd_event_source *retry;
        sd_event_source *resync;
        sd_event_source *idle_close;
        sd_event_source *watch[2]; /* the values file's directory, and its symlink target's */
        char *watch_name[2];
        uint64_t backoff_usec;
        bool ready_sent;
        bool resync_due;
        unsigned passes;
} Loop;

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* Whether SIGTERM or SIGINT is waiting: they are blocked (sd-event reads
 * them from a signalfd), so a long pass can notice them and cancel its
 * in-flight request instead of making systemd wait. */
static bool stop_pending(void *userdata) {
        sigset_t set;

        if (sigpending(&set) < 0)
                return false;
        return sigismember(&set, SIGTERM) == 1 || sigismember(&set, SIGINT) == 1;
}

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
        const char *path = l->m->options.values_path;

        if (!l->ready_sent) {
                (void) sd_notifyf(false, "READY=1\nSTATUS=%s; watching %s", status, path);
                l->ready_sent = true;
        } else
                (void) sd_notifyf(false, "STATUS=%s; watching %s", status, path);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);
static int on_resync(sd_event_source *s, uint64_t usec, void *userdata);
static int on_idle_close(sd_event_source *s, uint64_t usec, void *userdata);

static void schedule_retry(Loop *l) {
        uint64_t jitter;

        l->backoff_usec = l->backoff_usec ? l->backoff_usec * 2 : BACKOFF_MIN_USEC;
        if (l->backoff_usec > BACKOFF_MAX_USEC)
                l->backoff_usec = BACKOFF_MAX_USEC;
        jitter = (uint64_t) random() % (l->backoff_usec / 4 + 1);
        log_info("retrying in %.1f s", (double) (l->backoff_usec + jitter) / 1e6);
        (void) arm(&l->retry, l->event, now_usec() + l->backoff_usec + jitter, on_retry, l);
}

static void schedule_resync(Loop *l) {
        if (l->opts->resync_usec > 0)
                (void) arm(&l->resync, l->event, now_usec() + l->opts->resync_usec, on_resync, l);
}

static void run_pass(Loop *l, unsigned flags) {
        PassResult res = { 0 };
        int r;

        disarm(l->retry);
        r = manager_pass(l->m, flags, &res);
        l->passes++;
        if (l->opts->idle_close_usec > 0)
                (void) arm(&l->idle_close, l->event, now_usec() + l->opts->idle_close_usec, on_idle_close, l);
        notify_status(l, res.status ? res.status : "pass finished");
        if (r >= 0) {
                l->backoff_usec = 0;
                if (res.objects_applied || res.objects_deleted || res.clients_changed || res.objects_repaired ||
                    res.clients_repaired)
                        log_info("%s", res.status);
        } else if (r == -ECANCELED || stop_pending(NULL))
                log_info("pass cancelled: stopping");
        else if (res.invalid_values)
                /* The diagnostics were logged; retrying cannot help: wait for the next edit. */
                log_notice("nothing applied, nothing deleted; keeping generation %llu; waiting for the next edit",
                           (unsigned long long) l->m->ledger->generation);
        else
                schedule_retry(l); /* the manager logged why */
        pass_result_clear(&res);
}

static int on_debounce(sd_event_source *s, uint64_t usec, void *userdata) {
        Loop *l = userdata;

        l->backoff_usec = 0; /* an edit cancels the backoff */
        run_pass(l, 0);
        return 0;
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

        manager_close_connections(l->m);
        (void) malloc_trim(0);
        log_debug("idle: connections closed, libcurl and libpq unloaded");
        return 0;
}

static int watch_paths(Loop *l);

static int on_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        Loop *l = userdata;
        bool ours = false;

        for (size_t i = 0; i < ELEMENTSOF(l->watch); i++)
                if (s == l->watch[i] && ev->len > 0 && l->watch_name[i] && streq(ev->name, l->watch_name[i]))
                        ours = true;
        if (!ours)
                return 0;
        log_debug("values file event 0x%x on '%s'", ev->mask, ev->name);
        /* A swapped symlink may now point into another directory. */
        (void) watch_paths(l);
        return arm(&l->debounce, l->event, now_usec() + l->opts->debounce_usec, on_debounce, l);
}

static int add_watch(Loop *l, size_t slot, const char *path) {
        _cleanup_free_ char *dir = path_dirname(path);
        uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB |
                        IN_ONLYDIR;
        int r;

        l->watch[slot] = sd_event_source_disable_unref(l->watch[slot]);
        free(l->watch_name[slot]);
        l->watch_name[slot] = strdup(path_basename(path));
        if (!dir || !l->watch_name[slot])
                return -ENOMEM;
        r = sd_event_add_inotify(l->event, &l->watch[slot], dir, mask, on_inotify, l);
        if (r < 0)
                return log_error_errno(r, "Failed to watch '%s': %s", dir, STRERROR(r));
        return 0;
}

/* Watches the directory of the values file and, when it is a symlink, the
 * directory of what it points to (an in-place edit of the target). */
static int watch_paths(Loop *l) {
        char target[PATH_MAX];
        int r;

        if (!l->watch[0]) {
                r = add_watch(l, 0, l->m->options.values_path);
                if (r < 0)
                        return r;
        }
        if (!realpath(l->m->options.values_path, target) || streq(target, l->m->options.values_path)) {
                l->watch[1] = sd_event_source_disable_unref(l->watch[1]);
                return 0;
        }
        return add_watch(l, 1, target);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Loop *l = userdata;

        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
                          (unsigned long long) now_usec());
        log_info("reloading: re-reading values.env, the kubeconfig and the ledger");
        (void) manager_reload(l->m);
        (void) watch_paths(l);
        run_pass(l, 0);
        (void) sd_notify(false, "READY=1");
        return 0;
}

static int on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Loop *l = userdata;

        (void) sd_notify(false, "STOPPING=1\nSTATUS=stopping");
        log_info("stopping on %s", si->ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        return sd_event_exit(l->event, 0);
}

/* Test-only: with NAP_AGENT_TEST_HOOKS=1, SIGUSR2 wedges the loop so the
 * systemd watchdog can be seen to fire. Never enabled otherwise. */
static int on_test_hang(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_warning("test hook: hanging the event loop");
        for (;;)
                pause();
        return 0;
}

static void loop_free(Loop *l) {
        for (size_t i = 0; i < ELEMENTSOF(l->watch); i++) {
                sd_event_source_disable_unref(l->watch[i]);
                free(l->watch_name[i]);
        }
        sd_event_source_disable_unref(l->debounce);
        sd_event_source_disable_unref(l->retry);
        sd_event_source_disable_unref(l->resync);
        sd_event_source_disable_unref(l->idle_close);
        sd_event_unref(l->event);
}

static int setup_signals(Loop *l) {
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGUSR2);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return negative_errno();
        if ((r = sd_event_add_signal(l->event, NULL, SIGTERM, on_stop, l)) < 0 ||
            (r = sd_event_add_signal(l->event, NULL, SIGINT, on_stop, l)) < 0 ||
            (r = sd_event_add_signal(l->event, NULL, SIGHUP, on_sighup, l)) < 0)
                return r;
        if (getenv("NAP_AGENT_TEST_HOOKS") && streq(getenv("NAP_AGENT_TEST_HOOKS"), "1"))
                return sd_event_add_signal(l->event, NULL, SIGUSR2, on_test_hang, l);
        return 0;
}

int manager_run(Manager *m, const LoopOptions *opts) {
        Loop l = { .m = m, .opts = opts };
        int r;

        srandom((unsigned) now_usec() ^ (unsigned) getpid());
        m->options.kube_options.cancelled = stop_pending;
        if (m->options.kube_options.deadline_ms == 0)
                m->options.kube_options.deadline_ms = DAEMON_CALL_DEADLINE_MS;
        r = sd_event_new(&l.event);
        if (r < 0) {
                log_error_errno(r, "Failed to create the event loop: %s", STRERROR(r));
                goto finish;
        }
        if ((r = setup_signals(&l)) < 0 || (r = sd_event_set_watchdog(l.event, true)) < 0) {
                log_error_errno(r, "Failed to set up signals or the watchdog: %s", STRERROR(r));
                goto finish;
        }
        r = watch_paths(&l);
        if (r < 0)
                goto finish;
        log_info("nap-agent watching '%s', state in '%s'", m->options.values_path, m->state_dir);

        /* The first pass runs at once; READY=1 follows it whatever its
         * outcome, so boot never waits on an unreachable API server. */
        run_pass(&l, 0);
        schedule_resync(&l);
        r = sd_event_loop(l.event);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %s", STRERROR(r));
        r = ledger_commit(m->ledger);
        if (r < 0)
                log_warning_errno(r, "Failed to save the ledger on exit: %s", STRERROR(r));
        r = 0;
finish:
        loop_free(&l);
        return r;
}
