/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon-metrics: the text of node_exporter's textfile format for what the
 * daemon counted, and its atomic replacement: a reader racing 1000 writes
 * (another process, as node_exporter is) only ever reads whole files, each
 * exactly the text of one write. The real node_exporter and promtool read
 * the file in tests/metrics/.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "tests.h"
#include "util/fs.h"

#define SEC 1000000ULL
#define T0 (1764000000ULL * SEC) /* a wall-clock time, 2025-11-24 */

static bool has_line(const char *text, const char *line) {
        size_t n = strlen(line);

        for (const char *p = text; (p = strstr(p, line)); p++)
                if ((p == text || p[-1] == '\n') && p[n] == '\n')
                        return true;
        return false;
}

static void expect_line(const char *text, const char *line) {
        if (!has_line(text, line))
                TEST_FAIL("no line '%s' in:\n%s", line, text);
}

static unsigned count_prefix(const char *text, const char *prefix) {
        unsigned n = 0;

        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                n += strncmp(p, prefix, strlen(prefix)) == 0;
        return n;
}

static char *format(const Metrics *m, const MetricsSnapshot *s) {
        char *text = NULL;

        ASSERT_OK(metrics_format(m, s, &text));
        return text;
}

static MetricsPass pass(MetricsPassResult result, uint64_t end, uint64_t duration, uint64_t generation) {
        return (MetricsPass) { .result = result, .end_usec = end, .duration_usec = duration, .generation = generation };
}

TEST(sample) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_free_ char *text = NULL;
        KubeRequests req = { 0 };
        MetricsWorkload w[] = {
                { "Deployment", "nap-browser", ROLLOUT_FAILING, T0 + 90 * SEC },
                { "DaemonSet", "sandbox-image-warmer", ROLLOUT_AVAILABLE, 0 },
        };
        MetricsSnapshot s = { .workloads = w, .n_workloads = 2, .requests = &req, .running = true };
        MetricsPass p = pass(METRICS_PASS_SUCCESS, T0 + 60 * SEC + 250000, 12345, 7);

        ASSERT_OK(metrics_new("/nonexistent", T0, 600 * SEC, &m));
        ASSERT_STREQ(metrics_path(m), "/nonexistent/nap-agent.prom");
        p.drift_repairs = 2;
        p.clients_registered = 1;
        p.clients_kept = 1;
        metrics_pass_done(m, &p);
        req.n[KUBE_VERB_APPLY][1] = 3; /* Secret */
        req.n[KUBE_VERB_WATCH][5] = 1; /* Deployment */
        text = format(m, &s);

        expect_line(text, "# TYPE nap_agent_passes_total counter");
        expect_line(text, "nap_agent_passes_total{result=\"success\"} 1");
        expect_line(text, "nap_agent_passes_total{result=\"failure\"} 0");
        expect_line(text, "nap_agent_passes_total{result=\"refused\"} 0");
        expect_line(text, "nap_agent_start_time_seconds 1764000000.000000");
        expect_line(text, "nap_agent_state_lock_held 1");
        expect_line(text, "nap_agent_resync_interval_seconds 600.000000");
        expect_line(text, "nap_agent_last_pass_timestamp_seconds 1764000060.250000");
        expect_line(text, "nap_agent_last_success_timestamp_seconds 1764000060.250000");
        expect_line(text, "nap_agent_last_pass_success 1");
        expect_line(text, "nap_agent_last_pass_duration_seconds 0.012345");
        expect_line(text, "nap_agent_generation 7");
        expect_line(text, "nap_agent_pending_changes 0");
        expect_line(text, "nap_agent_drift_repairs_total 2");
        expect_line(text, "nap_agent_values_valid 1");
        expect_line(text, "nap_agent_values_last_transition_timestamp_seconds 1764000060.250000");
        expect_line(text, "nap_agent_oauth_clients{state=\"registered\"} 1");
        expect_line(text, "nap_agent_oauth_clients{state=\"kept\"} 1");
        expect_line(text, "nap_agent_kube_requests_total{verb=\"apply\",kind=\"Secret\"} 3");
        expect_line(text, "nap_agent_kube_requests_total{verb=\"watch\",kind=\"Deployment\"} 1");
        ASSERT_EQ(count_prefix(text, "nap_agent_kube_requests_total{"), 2); /* only what was used */
        expect_line(text, "nap_agent_workload_health{kind=\"Deployment\",workload=\"nap-browser\",state=\"failing\"} 1");
        expect_line(text, "nap_agent_workload_health{kind=\"Deployment\",workload=\"nap-browser\",state=\"available\"} 0");
        expect_line(text, "nap_agent_workload_health{kind=\"DaemonSet\",workload=\"sandbox-image-warmer\",state=\"available\"} 1");
        ASSERT_EQ(count_prefix(text, "nap_agent_workload_health{"), 8); /* 4 states x 2 */
        expect_line(text, "nap_agent_workload_health_last_transition_timestamp_seconds{kind=\"Deployment\","
                          "workload=\"nap-browser\"} 1764000090.000000");
        ASSERT_EQ(count_prefix(text, "nap_agent_workload_health_last_transition_timestamp_seconds{"), 1);
        /* every family has its HELP and TYPE, and each name is declared once */
        ASSERT_EQ(count_prefix(text, "# HELP "), count_prefix(text, "# TYPE "));
        ASSERT_EQ(count_prefix(text, "# TYPE "), 19);
        ASSERT_EQ(text[strlen(text) - 1], '\n');
}

/* A refused values.env: values_valid 0 since that pass; a later valid pass
 * moves the transition time, an equal one does not. */
TEST(values_transitions) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        MetricsSnapshot s = { .running = true };
        MetricsPass p;
        char *text;

        ASSERT_OK(metrics_new(NULL, T0, 0, &m));
        p = pass(METRICS_PASS_SUCCESS, T0 + 10 * SEC, 1000, 1);
        metrics_pass_done(m, &p);
        p = pass(METRICS_PASS_REFUSED, T0 + 20 * SEC, 1000, 1);
        metrics_pass_done(m, &p);
        p = pass(METRICS_PASS_REFUSED, T0 + 30 * SEC, 1000, 1);
        metrics_pass_done(m, &p);
        text = format(m, &s);
        expect_line(text, "nap_agent_values_valid 0");
        expect_line(text, "nap_agent_values_last_transition_timestamp_seconds 1764000020.000000");
        expect_line(text, "nap_agent_last_pass_success 0");
        expect_line(text, "nap_agent_last_success_timestamp_seconds 1764000010.000000");
        expect_line(text, "nap_agent_passes_total{result=\"refused\"} 2");
        free(text);

        p = pass(METRICS_PASS_FAILURE, T0 + 40 * SEC, 1000, 1);
        p.pending_changes = 3;
        metrics_pass_done(m, &p);
        text = format(m, &s);
        expect_line(text, "nap_agent_values_valid 1");
        expect_line(text, "nap_agent_values_last_transition_timestamp_seconds 1764000040.000000");
        expect_line(text, "nap_agent_pending_changes 3");
        expect_line(text, "nap_agent_passes_total{result=\"failure\"} 1");
        free(text);
}

/* Buckets are upper bounds (le): a duration on a bound counts in it. */
TEST(histogram) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_free_ char *text = NULL;
        MetricsSnapshot s = { .running = true };
        const uint64_t d[] = { 5000, 5001, 999999, 40 * SEC };

        ASSERT_OK(metrics_new(NULL, T0, 0, &m));
        for (size_t i = 0; i < ELEMENTSOF(d); i++) {
                MetricsPass p = pass(METRICS_PASS_SUCCESS, T0 + i * SEC, d[i], 1);
                metrics_pass_done(m, &p);
        }
        text = format(m, &s);
        expect_line(text, "# TYPE nap_agent_pass_duration_seconds histogram");
        expect_line(text, "nap_agent_pass_duration_seconds_bucket{le=\"0.005\"} 1");
        expect_line(text, "nap_agent_pass_duration_seconds_bucket{le=\"0.01\"} 2");
        expect_line(text, "nap_agent_pass_duration_seconds_bucket{le=\"0.5\"} 2");
        expect_line(text, "nap_agent_pass_duration_seconds_bucket{le=\"1\"} 3");
        expect_line(text, "nap_agent_pass_duration_seconds_bucket{le=\"30\"} 3");
        expect_line(text, "nap_agent_pass_duration_seconds_bucket{le=\"+Inf\"} 4");
        expect_line(text, "nap_agent_pass_duration_seconds_count 4");
        expect_line(text, "nap_agent_pass_duration_seconds_sum 41.010000");
}

/* Before any pass (a daemon stopped at once): no last pass, no values state. */
TEST(no_pass_yet_and_stopped) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_free_ char *text = NULL;
        MetricsSnapshot s = { .running = false };

        ASSERT_OK(metrics_new(NULL, T0, 600 * SEC, &m));
        text = format(m, &s);
        expect_line(text, "nap_agent_state_lock_held 0");
        expect_line(text, "nap_agent_last_success_timestamp_seconds 0.000000");
        ASSERT_TRUE(!strstr(text, "nap_agent_values_valid"));
        ASSERT_TRUE(!strstr(text, "nap_agent_last_pass_timestamp_seconds"));
        ASSERT_EQ(count_prefix(text, "nap_agent_kube_requests_total"), 0);
}

TEST(label_escaping) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_free_ char *text = NULL;
        MetricsWorkload w = { "Deployment", "a\"b\\c\nd", ROLLOUT_UNKNOWN, 0 };
        MetricsSnapshot s = { .workloads = &w, .n_workloads = 1, .running = true };

        ASSERT_OK(metrics_new(NULL, T0, 0, &m));
        text = format(m, &s);
        expect_line(text, "nap_agent_workload_health{kind=\"Deployment\",workload=\"a\\\"b\\\\c\\nd\",state=\"unknown\"} 1");
}

static char *mktemp_dir(void) {
        char *dir = strdup("/tmp/test-metrics.XXXXXX");

        ASSERT_TRUE(dir && mkdtemp(dir));
        return dir;
}

static void rm_dir(const char *dir) {
        char cmd[512];

        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ASSERT_EQ(system(cmd), 0);
}

/* The file: 0644 whatever the umask (node_exporter is another user), the
 * text of metrics_format(), and nothing else left in the directory. */
TEST(write_file) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_free_ char *dir = mktemp_dir(), *text = NULL, *read = NULL;
        MetricsSnapshot s = { .running = true };
        MetricsPass p = pass(METRICS_PASS_SUCCESS, T0, 1000, 3);
        mode_t old = umask(077);
        struct stat st;
        struct dirent *de;
        unsigned entries = 0;
        size_t len;
        DIR *d;

        ASSERT_OK(metrics_new(dir, T0, 0, &m));
        metrics_pass_done(m, &p);
        ASSERT_OK(metrics_write(m, &s));
        umask(old);
        ASSERT_OK(stat(metrics_path(m), &st));
        ASSERT_EQ(st.st_mode & 07777, 0644);
        text = format(m, &s);
        ASSERT_OK(read_full_file(metrics_path(m), 1 << 20, &read, &len));
        ASSERT_STREQ(read, text);
        ASSERT_TRUE((d = opendir(dir)));
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        entries++;
                        ASSERT_STREQ(de->d_name, METRICS_FILE);
                }
        closedir(d);
        ASSERT_EQ(entries, 1);
        rm_dir(dir);
}

/* Metrics never stop the daemon: a missing directory is an error returned,
 * and no directory at all writes nothing. */
TEST(write_failure_and_disabled) {
        _cleanup_(metrics_freep) Metrics *m = NULL, *off = NULL;
        MetricsSnapshot s = { .running = true };

        ASSERT_OK(metrics_new("/nonexistent-nap-agent-metrics", T0, 0, &m));
        ASSERT_EQ(metrics_write(m, &s), -ENOENT);
        ASSERT_EQ(metrics_write(m, &s), -ENOENT); /* warned once, then debug */
        ASSERT_OK(metrics_new(NULL, T0, 0, &off));
        ASSERT_NULL(metrics_path(off));
        ASSERT_OK(metrics_write(off, &s));
}

/* ---- a reader racing the writes -------------------------------------------------- */

#define N_WRITES 1000

static MetricsPass race_pass(unsigned i) {
        MetricsPass p = pass(i % 7 ? METRICS_PASS_SUCCESS : METRICS_PASS_FAILURE, T0 + i * SEC, 1000 + i * 37, i);
        p.drift_repairs = i % 3;
        return p;
}

static MetricsWorkload race_workloads[] = {
        { "Deployment", "nap-sandbox", ROLLOUT_AVAILABLE, T0 },
        { "Deployment", "nap-browser", ROLLOUT_PROGRESSING, T0 },
        { "DaemonSet", "sandbox-image-warmer", ROLLOUT_FAILING, T0 },
};

/* The reader's loop: every read must be exactly the text of the write it
 * names (its generation), which the reader computes itself; it stops at
 * EOF on stop_fd. It reports its reads, the distinct files it saw and the
 * reads that were not whole; exit status 0 when all were. */
static int reader(const char *path, int ready_fd, int stop_fd, int report_fd) {
        MetricsSnapshot s = { .workloads = race_workloads, .n_workloads = ELEMENTSOF(race_workloads), .running = true };
        unsigned reads = 0, versions = 0, bad = 0, applied = 0, last = 0;
        Metrics *ref = NULL;
        char buf[1], report[128];

        if (metrics_new(NULL, T0, 0, &ref) < 0)
                return 2;
        for (;;) {
                char *got = NULL, *want = NULL, *g;
                size_t len;
                unsigned gen;

                if (read_full_file(path, 1 << 20, &got, &len) < 0 || !(g = strstr(got, "\nnap_agent_generation ")) ||
                    sscanf(g, "\nnap_agent_generation %u", &gen) != 1 || gen < applied) {
                        bad++;
                        gen = applied;
                }
                versions += gen != last;
                last = gen;
                for (; applied < gen; applied++) {
                        MetricsPass p = race_pass(applied + 1);
                        metrics_pass_done(ref, &p);
                }
                if (got && (metrics_format(ref, &s, &want) < 0 || !streq(got, want)))
                        bad++;
                free(got);
                free(want);
                if (reads++ == 0 && write(ready_fd, "r", 1) != 1)
                        return 2;
                if (read(stop_fd, buf, 1) == 0)
                        break;
        }
        snprintf(report, sizeof report, "%u %u %u", reads, versions, bad);
        metrics_free(ref);
        return write(report_fd, report, strlen(report)) > 0 && bad == 0 ? 0 : 1;
}

TEST(reader_racing_writes) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_free_ char *dir = mktemp_dir();
        MetricsSnapshot s = { .workloads = race_workloads, .n_workloads = ELEMENTSOF(race_workloads), .running = true };
        int ready[2], stop[2], report[2], status;
        unsigned reads = 0, versions = 0, bad = 0;
        char buf[128] = { 0 };
        pid_t pid;

        ASSERT_OK(metrics_new(dir, T0, 0, &m));
        {
                MetricsPass p = race_pass(1);
                metrics_pass_done(m, &p);
        }
        ASSERT_OK(metrics_write(m, &s));
        ASSERT_OK(pipe(ready));
        ASSERT_OK(pipe2(stop, O_NONBLOCK));
        ASSERT_OK(pipe(report));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                close(ready[0]);
                close(stop[1]);
                close(report[0]);
                int r = reader(metrics_path(m), ready[1], stop[0], report[1]);
                /* the parent's, not run here: _exit() (valgrind counts them) */
                m = metrics_free(m);
                free(TAKE_PTR(dir));
                _exit(r);
        }
        close(ready[1]);
        close(stop[0]);
        close(report[1]);
        ASSERT_EQ(read(ready[0], buf, 1), 1); /* the reader has read the first file */
        for (unsigned i = 2; i <= N_WRITES; i++) {
                MetricsPass p = race_pass(i);
                metrics_pass_done(m, &p);
                ASSERT_OK(metrics_write(m, &s));
        }
        close(stop[1]); /* EOF: the reader stops after its current read */
        ASSERT_TRUE(read(report[0], buf, sizeof buf - 1) > 0);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_EQ(sscanf(buf, "%u %u %u", &reads, &versions, &bad), 3);
        printf("  reader: %u reads, %u distinct files, %u not whole\n", reads, versions, bad);
        ASSERT_EQ(bad, 0);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        /* it really raced: it saw the file change under it */
        ASSERT_TRUE(versions >= 2);
        close(ready[0]);
        close(report[0]);
        rm_dir(dir);
}

TEST_MAIN(T(sample), T(values_transitions), T(histogram), T(no_pass_yet_and_stopped), T(label_escaping), T(write_file),
          T(write_failure_and_disabled), T(reader_racing_writes))
