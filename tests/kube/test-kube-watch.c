/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_watch against the harness's real kube-apiserver (run through
 * with-harness.sh): changes are seen as they happen, a watch that ends is
 * started again from its resourceVersion without a new list, an API server
 * that is killed and started again (tests/harness/harness.sh
 * apiserver-stop/-start) is followed through, by a new list when it no
 * longer has that resourceVersion (410), and an answer no retry can change
 * ends it. Every dispatch of the loop is watched (tests/loopprobe.h): none
 * waits in the kernel, the server away or not, so the loop is never
 * blocked.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kube-harness.h"
#include "kube.h"
#include "loopprobe.h"
#include "tests.h"
#include "util/json.h"
#include "util/log.h"

extern char **environ;

#define NS "watch-it"
#define CM_PATH "/api/v1/namespaces/" NS "/configmaps"

static sd_event *event;
static KubeClient *client;
static LoopProbe probe;  /* the dispatches of the test that runs */
static KubeWatch *watch; /* the test's watch, freed by the next one if it failed */

typedef struct Seen {
        unsigned callbacks;
        int items;       /* at the last callback */
        bool synced, has_a;
} Seen;

static void on_changed(KubeWatch *w, void *userdata) {
        Seen *seen = userdata;

        seen->callbacks++;
        seen->synced = kube_watch_synced(w);
        seen->items = seen->synced ? cJSON_GetArraySize(kube_watch_items(w)) : -1;
        seen->has_a = kube_watch_find(w, "a") != NULL;
}

/* A test's start: a fresh probe, and no watch left by a test that failed
 * (its callbacks would write into a stack frame long gone). */
static void fresh(void) {
        watch = kube_watch_free(watch);
        probe = (LoopProbe) { 0 };
}

/* One iteration of the loop (up to timeout_usec), watched. */
static void step(uint64_t timeout_usec) {
        ASSERT_OK(loop_probe_run(&probe, event, timeout_usec));
}

/* Runs the loop until pred holds or limit seconds pass (a deadline for
 * the wait, not a measure); returns pred. */
static bool run_until(bool (*pred)(KubeWatch *w, const void *arg), KubeWatch *w, const void *arg, double limit) {
        double t0 = now();

        while (!pred(w, arg) && now() - t0 < limit)
                step(100 * 1000);
        return pred(w, arg);
}

static bool has_value(KubeWatch *w, const void *arg) {
        const char *const *nv = arg; /* name, value (NULL: absent) */
        const cJSON *o = kube_watch_find(w, nv[0]);

        if (!nv[1])
                return kube_watch_synced(w) && !o;
        return o && streq(strna(json_string(JSON_GET(o, "data"), "k")), nv[1]);
}

static bool synced(KubeWatch *w, const void *arg) {
        return kube_watch_synced(w);
}

static bool errored(KubeWatch *w, const void *arg) {
        return kube_watch_error(w, NULL) < 0 && ((const Seen *) arg)->callbacks > 0;
}

static bool told(KubeWatch *w, const void *arg) {
        const Seen *seen = arg;
        return seen->synced && seen->items == 1 && !seen->has_a;
}

static bool watched(KubeWatch *w, const void *arg) {
        KubeWatchStats st;

        kube_watch_stats(w, &st);
        return st.watches >= *(const unsigned *) arg;
}

/* A write of the test's own, on the same loop, watched as well. */
typedef struct Write {
        bool done;
        int r;
        char message[512];
} Write;

static void write_done(Write *wr, int r, const KubeError *err) {
        wr->done = true;
        wr->r = r;
        snprintf(wr->message, sizeof wr->message, "%s", r < 0 && err ? err->message : "");
}

static void on_applied(int r, KubeApplyResult *res, const KubeError *err, void *userdata) {
        write_done(userdata, r, err);
}

static void on_deleted(int r, bool existed, const KubeError *err, void *userdata) {
        write_done(userdata, r, err);
}

static bool written(KubeWatch *w, const void *arg) {
        return ((const Write *) arg)->done;
}

static void write_wait(Write *wr, const char *what) {
        if (!run_until(written, NULL, wr, 30))
                TEST_FAIL("%s: no answer within 30 s", what);
        if (wr->r < 0)
                TEST_FAIL("%s: %s", what, wr->message);
}

static void put(const char *name, const char *label, const char *value) {
        char text[512];
        Write wr = { 0 };
        cJSON *cm;

        snprintf(text, sizeof text,
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"" NS
                 "\",\"labels\":{\"t\":\"%s\"}},\"data\":{\"k\":\"%s\"}}",
                 name, label, value);
        cm = cJSON_Parse(text);
        ASSERT_TRUE(cm);
        ASSERT_OK(kube_apply_start(client, cm, NULL, 0, on_applied, &wr, NULL));
        cJSON_Delete(cm);
        write_wait(&wr, name);
}

static void del(const char *name) {
        KubeRef ref = { "v1", "ConfigMap", NS, name };
        Write wr = { 0 };

        ASSERT_OK(kube_delete_start(client, &ref, NULL, on_deleted, &wr, NULL));
        write_wait(&wr, name);
}

#define EXPECT(w, name, value, limit)                                                                   \
        do {                                                                                            \
                const char *_nv[2] = { (name), (value) };                                               \
                if (!run_until(has_value, (w), _nv, (limit)))                                           \
                        TEST_FAIL("the watch never showed %s = %s", _nv[0], _nv[1] ? _nv[1] : "(gone)"); \
        } while (0)

static void setup(void) {
        KubeError err;
        cJSON *ns = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" NS "\"}}");
        KubeApplyResult res;

        ASSERT_OK(sd_event_default(&event));
        ASSERT_OK(kube_client_new(getenv("KUBECONFIG"), NULL, event, &client, &err));
        ASSERT_OK(kube_apply(client, ns, NULL, 0, &res, &err));
        kube_apply_result_clear(&res);
        cJSON_Delete(ns);
}

/* Added, modified, deleted, and the label selector honoured. */
TEST(follows_changes) {
        KubeWatchStats st;
        static Seen seen;

        fresh();
        seen = (Seen) { 0 };
        put("before", "w", "0");
        ASSERT_OK(kube_watch_start(client, CM_PATH, "labelSelector=t%3Dw", NULL, on_changed, &seen, &watch));
        EXPECT(watch, "before", "0", 10);
        put("a", "w", "1");
        put("other", "not-w", "1");
        EXPECT(watch, "a", "1", 10);
        put("a", "w", "2");
        EXPECT(watch, "a", "2", 10);
        del("a");
        EXPECT(watch, "a", NULL, 10);
        ASSERT_NULL(kube_watch_find(watch, "other"));
        ASSERT_EQ(cJSON_GetArraySize(kube_watch_items(watch)), 1);
        /* the consumer was told of the last change (events that arrive
         * in one loop iteration share one callback) */
        ASSERT_TRUE(run_until(told, watch, &seen, 5));
        kube_watch_stats(watch, &st);
        printf("  lists %u, watches %u, events %u, callbacks %u\n", st.lists, st.watches, st.events, seen.callbacks);
        ASSERT_EQ(st.lists, 1u);
        ASSERT_EQ(st.breaks + st.expired, 0u);
        ASSERT_EQ(st.events, 3u); /* a added, changed, deleted; "other" is not selected */
        ASSERT_TRUE(seen.callbacks >= 2);
        loop_probe_check(&probe, 8, "follows_changes"); /* 5 writes answered, 1 list, >= 2 callbacks */
        watch = kube_watch_free(watch);
}

/* A watch the server ends (timeoutSeconds) goes on from its
 * resourceVersion: no new list, and what changed in between is seen. */
TEST(rewatches_without_listing) {
        KubeWatchOptions o = { .timeout_usec = 1 * USEC_PER_SEC };
        KubeWatchStats st;
        static Seen seen;
        const unsigned three = 3;

        fresh();
        seen = (Seen) { 0 };
        ASSERT_OK(kube_watch_start(client, CM_PATH, "labelSelector=t%3Dw", &o, on_changed, &seen, &watch));
        ASSERT_TRUE(run_until(synced, watch, NULL, 10));
        /* Fence: the server ended two watches, the third is sent. */
        if (!run_until(watched, watch, &three, 30))
                TEST_FAIL("no third watch request within 30 s (timeoutSeconds=1)");
        put("b", "w", "1");
        EXPECT(watch, "b", "1", 10);
        kube_watch_stats(watch, &st);
        printf("  lists %u, watches %u, expired %u, breaks %u\n", st.lists, st.watches, st.expired, st.breaks);
        ASSERT_EQ(st.lists, 1u);
        ASSERT_TRUE(st.watches >= 3);
        ASSERT_EQ(st.expired, 0u);
        ASSERT_EQ(st.breaks, 0u);
        loop_probe_check(&probe, 4, "rewatches_without_listing"); /* 1 list, 2 watches ended, 1 write */
        watch = kube_watch_free(watch);
}

/* Runs cmd with sh in the background; the loop keeps running until it
 * exits (limit: a deadline, in seconds). */
static int run_background(const char *cmd, double limit) {
        const char *argv[] = { "sh", "-c", cmd, NULL };
        double t0 = now();
        pid_t pid;
        int status = -1;

        ASSERT_EQ(posix_spawn(&pid, "/bin/sh", NULL, NULL, (char *const *) argv, environ), 0);
        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid)
                        break;
                if (now() - t0 > limit) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        TEST_FAIL("'%s' took more than %.0f s", cmd, limit);
                }
                step(50 * 1000);
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The API server killed and started again while the watch runs: followed
 * through, and no dispatch of the loop waited in the kernel meanwhile
 * (connections refused, retries, the new list and watch). */
static void restart_case(bool bump, const char *name) {
        KubeWatchStats st;
        static Seen seen;
        char cmd[1024];

        fresh();
        seen = (Seen) { 0 };
        ASSERT_OK(kube_watch_start(client, CM_PATH, "labelSelector=t%3Dw", NULL, on_changed, &seen, &watch));
        ASSERT_TRUE(run_until(synced, watch, NULL, 10));
        /* Killed as in a crash; with bump, etcd's revision moves while it is
         * away, so the new watch cache starts after what the watch saw. */
        snprintf(cmd, sizeof cmd,
                 "'%s' apiserver-stop '%s' KILL >/dev/null && %s '%s' apiserver-start '%s' >/dev/null",
                 HARNESS_SH, getenv("NAP_HARNESS_DIR"),
                 bump ? "ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:$NAP_ETCD_PORT put /nap-test/bump x "
                        ">/dev/null &&"
                      : "",
                 HARNESS_SH, getenv("NAP_HARNESS_DIR"));
        ASSERT_EQ(run_background(cmd, 90), 0);
        put(name, "w", "after");
        EXPECT(watch, name, "after", 30);
        kube_watch_stats(watch, &st);
        printf("  %s: lists %u, watches %u, expired %u, breaks %u\n", bump ? "etcd moved on" : "nothing moved",
               st.lists, st.watches, st.expired, st.breaks);
        ASSERT_TRUE(st.watches >= 2);
        ASSERT_TRUE(st.breaks >= 1 || st.expired >= 1);
        if (bump) {
                ASSERT_TRUE(st.expired >= 1);
                ASSERT_TRUE(st.lists >= 2);
        }
        ASSERT_EQ(kube_watch_error(watch, NULL), 0);
        /* at least: the list, the watch broken, another watch, the write, its event */
        loop_probe_check(&probe, 5, bump ? "survives_restart_410" : "survives_restart");
        watch = kube_watch_free(watch);
}

TEST(survives_restart_410) {
        restart_case(true, "c");
}

TEST(survives_restart) {
        restart_case(false, "d");
}

/* An answer no retry changes ends the watch, and says so; freed, nothing
 * of it is left on the client. */
TEST(gives_up_on_404) {
        const KubeError *err = NULL;
        static Seen seen;

        fresh();
        seen = (Seen) { 0 };
        ASSERT_TRUE(kube_client_idle(client));
        ASSERT_OK(kube_watch_start(client, "/api/v1/namespaces/" NS "/nosuchthings", NULL, NULL, on_changed, &seen,
                                   &watch));
        ASSERT_TRUE(run_until(errored, watch, &seen, 10));
        ASSERT_EQ(kube_watch_error(watch, &err), -ENOENT);
        ASSERT_TRUE(err && err->http_status == 404);
        ASSERT_TRUE(seen.callbacks == 1);
        ASSERT_TRUE(!kube_watch_synced(watch));
        loop_probe_check(&probe, 1, "gives_up_on_404");
        watch = kube_watch_free(watch);
        ASSERT_TRUE(kube_client_idle(client));
}

int main(void) {
        static const TestCase cases[] = {
                T(follows_changes), T(rewatches_without_listing), T(survives_restart_410), T(survives_restart),
                T(gives_up_on_404),
        };
        int r;

        if (!getenv("KUBECONFIG") || !getenv("NAP_HARNESS_DIR") || !getenv("NAP_ETCD_PORT")) {
                fprintf(stderr, "test-kube-watch: run me through tests/harness/with-harness.sh\n");
                return 1;
        }
        log_setup(); /* NAP_LOG_LEVEL=debug shows every request and what the watch does */
        if (setjmp(test_jmp) != 0)
                return 1; /* setup failed */
        setup();
        r = test_run(cases, ELEMENTSOF(cases));
        watch = kube_watch_free(watch); /* left by a test that failed */
        client = kube_client_free(client);
        event = sd_event_unref(event);
        return r;
}
