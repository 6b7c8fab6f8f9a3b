/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the metrics file of a sample daemon state into DIR with the
 * daemon's own code (daemon-metrics.c), for the tools that read it in
 * tests/metrics: promtool check metrics and the real node_exporter.
 *
 *   metrics-dump DIR    prints the path written
 */
#include <stdio.h>

#include "daemon-internal.h"
#include "util/clock.h"

int main(int argc, char **argv) {
        static const MetricsWorkload workloads[] = {
                { "Deployment", "nap-sandbox", ROLLOUT_AVAILABLE, 0 },
                { "Deployment", "nap-browser", ROLLOUT_FAILING, 0 },
                { "Deployment", "coturn", ROLLOUT_PROGRESSING, 0 },
                { "DaemonSet", "sandbox-image-warmer", ROLLOUT_UNKNOWN, 0 },
        };
        MetricsWorkload w[ELEMENTSOF(workloads)];
        KubeRequests req = { 0 };
        MetricsSnapshot s = { .workloads = w, .n_workloads = ELEMENTSOF(w), .requests = &req, .running = true };
        uint64_t now = now_realtime_usec();
        MetricsPass p = { .result = METRICS_PASS_SUCCESS, .end_usec = now - 60000000, .duration_usec = 23456,
                          .generation = 5, .drift_repairs = 1, .clients_registered = 2 };
        Metrics *m = NULL;

        if (argc != 2) {
                fprintf(stderr, "usage: %s DIR\n", argv[0]);
                return 2;
        }
        if (metrics_new(argv[1], now - 3600000000ULL, 600000000ULL, &m) < 0)
                return 1;
        metrics_pass_done(m, &p);
        p = (MetricsPass) { .result = METRICS_PASS_REFUSED, .end_usec = now, .duration_usec = 800, .generation = 5,
                            .clients_registered = 2 };
        metrics_pass_done(m, &p);
        for (size_t i = 0; i < ELEMENTSOF(w); i++) {
                w[i] = workloads[i];
                w[i].since_usec = w[i].health == ROLLOUT_UNKNOWN ? 0 : now - (i + 1) * 1000000;
        }
        req.n[KUBE_VERB_APPLY][1] = 4;
        req.n[KUBE_VERB_LIST][5] = 2;
        req.n[KUBE_VERB_WATCH][9] = 1;
        if (metrics_write(m, &s) < 0)
                return 1;
        printf("%s\n", metrics_path(m));
        metrics_free(m);
        return 0;
}
