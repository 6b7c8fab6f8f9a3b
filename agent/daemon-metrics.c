/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See daemon-metrics.h. The text is rebuilt whole at each write from a few
 * counters (a handful of families, one line per workload state): cheaper
 * to keep than a text to patch, and nothing is allocated between writes.
 * Numbers are printed exactly (integers, and seconds as a decimal with six
 * digits of microseconds), never through a float.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon-internal.h"
#include "nap-config.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strbuf.h"

/* Upper bounds of the pass duration's buckets (a pass takes milliseconds;
 * its deadline is at most 30 s), with their "le" written as Prometheus
 * writes a float (node_exporter rewrites any other spelling). */
static const struct {
        uint64_t usec;
        const char *le;
} buckets[] = {
        { 5000, "0.005" },   { 10000, "0.01" },  { 25000, "0.025" },  { 50000, "0.05" },
        { 100000, "0.1" },   { 250000, "0.25" }, { 500000, "0.5" },   { 1000000, "1" },
        { 2500000, "2.5" },  { 5000000, "5" },   { 10000000, "10" },  { 30000000, "30" },
};
#define N_BUCKETS ELEMENTSOF(buckets)

static const char *const result_names[_METRICS_PASS_RESULT_MAX] = {
        [METRICS_PASS_SUCCESS] = "success",
        [METRICS_PASS_FAILURE] = "failure",
        [METRICS_PASS_REFUSED] = "refused",
};

struct Metrics {
        char *path; /* NULL: disabled */
        uint64_t start_usec;
        uint64_t resync_usec;
        uint64_t passes[_METRICS_PASS_RESULT_MAX];
        bool have_pass;
        bool have_values; /* values_valid is known: a pass read values.env, or it is missing */
        MetricsPass last;
        uint64_t last_success_usec;       /* 0: none yet */
        uint64_t in_bucket[N_BUCKETS + 1]; /* per bucket, the last one +Inf (not cumulative) */
        uint64_t duration_sum_usec;
        uint64_t drift_repairs;
        bool values_valid;
        uint64_t values_since_usec;
        int last_error; /* of the last write, so a failing write warns once */
};

int metrics_new(const char *dir, uint64_t start_usec, uint64_t resync_usec, Metrics **ret) {
        Metrics *m = calloc(1, sizeof *m);

        assert(ret);

        if (!m)
                return -ENOMEM;
        if (dir && asprintf(&m->path, "%s/%s", dir, METRICS_FILE) < 0) {
                free(m);
                return -ENOMEM;
        }
        m->start_usec = start_usec;
        m->resync_usec = resync_usec;
        *ret = m;
        return 0;
}

Metrics *metrics_free(Metrics *m) {
        if (!m)
                return NULL;
        free(m->path);
        free(m);
        return NULL;
}

const char *metrics_path(const Metrics *m) {
        assert(m);

        return m->path;
}

const char *metrics_default_dir(void) {
        struct stat st;

        return stat(NAP_METRICS_DIR, &st) >= 0 && S_ISDIR(st.st_mode) ? NAP_METRICS_DIR : NULL;
}

void metrics_values_missing(Metrics *m, uint64_t now_usec) {
        assert(m);

        if (!m->have_values || m->values_valid)
                m->values_since_usec = now_usec;
        m->values_valid = false;
        m->have_values = true;
}

void metrics_pass_done(Metrics *m, const MetricsPass *p) {
        bool valid;
        size_t b = 0;

        assert(m);
        assert(p);
        assert(p->result >= 0 && p->result < _METRICS_PASS_RESULT_MAX);

        valid = p->result != METRICS_PASS_REFUSED;
        m->passes[p->result]++;
        if (!m->have_values || valid != m->values_valid)
                m->values_since_usec = p->end_usec;
        m->values_valid = valid;
        m->have_values = true;
        if (p->result == METRICS_PASS_SUCCESS)
                m->last_success_usec = p->end_usec;
        while (b < N_BUCKETS && p->duration_usec > buckets[b].usec)
                b++;
        m->in_bucket[b]++;
        m->duration_sum_usec += p->duration_usec;
        m->drift_repairs += p->drift_repairs;
        m->last = *p;
        m->have_pass = true;
}

/* ---- the exposition format ---------------------------------------------------------- */

static void family(StrBuf *b, const char *name, const char *type, const char *help) {
        strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the format wants (\\, \", \n). */
static void label_value(StrBuf *b, const char *v) {
        strbuf_putc(b, '"');
        for (const char *p = v ? v : ""; *p; p++)
                if (*p == '\\' || *p == '"')
                        strbuf_printf(b, "\\%c", *p);
                else if (*p == '\n')
                        strbuf_puts(b, "\\n");
                else
                        strbuf_putc(b, *p);
        strbuf_putc(b, '"');
}

static void seconds(StrBuf *b, uint64_t usec) {
        strbuf_printf(b, "%" PRIu64 ".%06" PRIu64 "\n", usec / 1000000, usec % 1000000);
}

static void gauge_seconds(StrBuf *b, const char *name, const char *help, uint64_t usec) {
        family(b, name, "gauge", help);
        strbuf_printf(b, "%s ", name);
        seconds(b, usec);
}

static void gauge_uint(StrBuf *b, const char *name, const char *help, uint64_t v) {
        family(b, name, "gauge", help);
        strbuf_printf(b, "%s %" PRIu64 "\n", name, v);
}

static void format_daemon(const Metrics *m, const MetricsSnapshot *s, StrBuf *b) {
        family(b, "nap_agent_build_info", "gauge", "The agent's version, as a label; always 1.");
        strbuf_puts(b, "nap_agent_build_info{version=");
        label_value(b, PACKAGE_VERSION);
        strbuf_puts(b, "} 1\n");
        gauge_seconds(b, "nap_agent_start_time_seconds", "Unix time at which the daemon started.", m->start_usec);
        gauge_uint(b, "nap_agent_state_lock_held",
                   "1 while the daemon holds the state directory (it runs); 0 in the file it leaves when it stops.",
                   s->running);
        gauge_seconds(b, "nap_agent_resync_interval_seconds",
                      "Period of the full re-apply (--resync); while the daemon runs it writes this file at least "
                      "that often. 0: no resync.",
                      m->resync_usec);
}

static void format_passes(const Metrics *m, StrBuf *b) {
        uint64_t cumulative = 0;

        family(b, "nap_agent_passes_total", "counter",
               "Reconcile passes by result: success; failure (an API server or database error, retried); "
               "refused (values.env invalid, nothing applied).");
        for (size_t i = 0; i < _METRICS_PASS_RESULT_MAX; i++)
                strbuf_printf(b, "nap_agent_passes_total{result=\"%s\"} %" PRIu64 "\n", result_names[i], m->passes[i]);
        family(b, "nap_agent_pass_duration_seconds", "histogram", "How long the passes took.");
        for (size_t i = 0; i <= N_BUCKETS; i++) {
                cumulative += m->in_bucket[i];
                strbuf_printf(b, "nap_agent_pass_duration_seconds_bucket{le=\"%s\"} %" PRIu64 "\n",
                              i < N_BUCKETS ? buckets[i].le : "+Inf", cumulative);
        }
        strbuf_puts(b, "nap_agent_pass_duration_seconds_sum ");
        seconds(b, m->duration_sum_usec);
        strbuf_printf(b, "nap_agent_pass_duration_seconds_count %" PRIu64 "\n", cumulative);
        family(b, "nap_agent_drift_repairs_total", "counter",
               "Objects and oauth_clients rows a resync found changed behind the agent's back and wrote back.");
        strbuf_printf(b, "nap_agent_drift_repairs_total %" PRIu64 "\n", m->drift_repairs);
        gauge_seconds(b, "nap_agent_last_success_timestamp_seconds",
                      "Unix time at which the last successful pass ended; 0: none since the daemon started.",
                      m->last_success_usec);
}

/* Whether values.env could be used, once a pass read it or it was missing. */
static void format_values(const Metrics *m, StrBuf *b) {
        if (!m->have_values)
                return;
        gauge_uint(b, "nap_agent_values_valid",
                   "Whether values.env was valid at the last pass (0: refused, or no values.env at all).",
                   m->values_valid);
        gauge_seconds(b, "nap_agent_values_last_transition_timestamp_seconds",
                      "Unix time at which nap_agent_values_valid took its current value.", m->values_since_usec);
}

/* What the last pass ended with: only once there was one. */
static void format_last_pass(const Metrics *m, StrBuf *b) {
        const MetricsPass *p = &m->last;

        if (!m->have_pass)
                return;
        gauge_seconds(b, "nap_agent_last_pass_timestamp_seconds", "Unix time at which the last pass ended.",
                      p->end_usec);
        gauge_uint(b, "nap_agent_last_pass_success", "Whether the last pass succeeded.",
                   p->result == METRICS_PASS_SUCCESS);
        gauge_seconds(b, "nap_agent_last_pass_duration_seconds", "How long the last pass took.", p->duration_usec);
        gauge_uint(b, "nap_agent_generation",
                   "The ledger's generation: moved by every pass that changed or repaired something.", p->generation);
        gauge_uint(b, "nap_agent_pending_changes",
                   "Writes the last pass planned and did not complete; retried with backoff. 0 after a success.",
                   p->pending_changes);
        family(b, "nap_agent_oauth_clients", "gauge",
               "oauth_clients rows the agent registered, by state: registered (module on), kept (module off; "
               "the row stays).");
        strbuf_printf(b, "nap_agent_oauth_clients{state=\"registered\"} %u\n", p->clients_registered);
        strbuf_printf(b, "nap_agent_oauth_clients{state=\"kept\"} %u\n", p->clients_kept);
}

/* Only the verbs and kinds that were used: a few lines, not 108. */
static void format_requests(const KubeRequests *r, StrBuf *b) {
        family(b, "nap_agent_kube_requests_total", "counter",
               "Requests sent to the Kubernetes API server, retries included, by verb and kind.");
        if (!r)
                return;
        for (size_t v = 0; v < _KUBE_VERB_MAX; v++)
                for (size_t k = 0; k < KUBE_N_KINDS; k++)
                        if (r->n[v][k] > 0)
                                strbuf_printf(b, "nap_agent_kube_requests_total{verb=\"%s\",kind=\"%s\"} %" PRIu64 "\n",
                                              kube_verb_to_string(v), kube_kind_at(k), r->n[v][k]);
}

static void workload_labels(StrBuf *b, const MetricsWorkload *w) {
        strbuf_puts(b, "{kind=");
        label_value(b, w->kind);
        strbuf_puts(b, ",workload=");
        label_value(b, w->name);
}

static void format_workloads(const MetricsSnapshot *s, StrBuf *b) {
        static const RolloutHealth states[] = { ROLLOUT_AVAILABLE, ROLLOUT_PROGRESSING, ROLLOUT_FAILING,
                                                ROLLOUT_UNKNOWN };

        family(b, "nap_agent_workload_health", "gauge",
               "Health of each workload the agent applied, a state set: 1 for its current state "
               "(available, progressing, failing, unknown).");
        for (size_t i = 0; i < s->n_workloads; i++)
                for (size_t j = 0; j < ELEMENTSOF(states); j++) {
                        strbuf_puts(b, "nap_agent_workload_health");
                        workload_labels(b, &s->workloads[i]);
                        strbuf_printf(b, ",state=\"%s\"} %d\n", rollout_health_to_string(states[j]),
                                      s->workloads[i].health == states[j]);
                }
        family(b, "nap_agent_workload_health_last_transition_timestamp_seconds", "gauge",
               "Unix time at which each workload entered its current health.");
        for (size_t i = 0; i < s->n_workloads; i++) {
                if (!s->workloads[i].since_usec)
                        continue;
                strbuf_puts(b, "nap_agent_workload_health_last_transition_timestamp_seconds");
                workload_labels(b, &s->workloads[i]);
                strbuf_puts(b, "} ");
                seconds(b, s->workloads[i].since_usec);
        }
}

int metrics_format(const Metrics *m, const MetricsSnapshot *s, char **ret) {
        StrBuf b = { 0 };
        char *text;

        assert(m);
        assert(s);
        assert(ret);

        format_daemon(m, s, &b);
        format_passes(m, &b);
        format_last_pass(m, &b);
        format_values(m, &b);
        format_requests(s->requests, &b);
        format_workloads(s, &b);
        text = strbuf_steal(&b);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

int metrics_write(Metrics *m, const MetricsSnapshot *s) {
        _cleanup_free_ char *text = NULL;
        int r;

        assert(m);
        assert(s);

        if (!m->path)
                return 0;
        r = metrics_format(m, s, &text);
        /* 0644: node_exporter runs as another user (prometheus) */
        if (r >= 0)
                r = write_file_atomic(m->path, text, strlen(text), 0644, 0);
        if (r < 0 && r != m->last_error)
                log_warning_errno(r, "Failed to write the metrics to '%s': %s, ignoring", m->path, STRERROR(r));
        else if (r < 0)
                log_debug_errno(r, "Failed to write the metrics to '%s' again: %s", m->path, STRERROR(r));
        m->last_error = r < 0 ? r : 0;
        return r;
}
