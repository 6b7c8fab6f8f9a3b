/* SPDX-License-Identifier: Apache-2.0 */
/* `nap-agent doctor [--json]`: see doctor.h. Exit 0 when nothing fails. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli-internal.h"
#include "doctor.h"
#include "util/defaults.h"
#include "util/log.h"

int cli_doctor(CliArgs *a) {
        _cleanup_(manager_freep) Manager *m = NULL;
        DoctorReport report = { 0 };
        ManagerOptions o;
        int r;

        assert(a);

        o = cli_manager_options(a);

        /* Short deadlines: a doctor that hangs helps nobody. An API server
         * that refuses connections fails within about 3 s, not after the
         * 30 s of retries a reconcile pass allows itself. */
        o.kube_options.deadline_usec = DEFAULT_DOCTOR_KUBE_DEADLINE_USEC;
        o.kube_options.request_timeout_usec = DEFAULT_DOCTOR_KUBE_REQUEST_TIMEOUT_USEC;
        o.kube_options.connect_timeout_usec = DEFAULT_DOCTOR_KUBE_CONNECT_TIMEOUT_USEC;
        o.ledger_reported = true; /* a ledger that cannot be read fails agent.ledger */
        if (manager_new(&o, &m) < 0)
                return CLI_EXIT_FAILURE;
        r = doctor_run(m, NULL, &report);
        if (r < 0) {
                doctor_report_clear(&report);
                log_error_errno(r, "doctor failed: %s", STRERROR(r));
                return CLI_EXIT_FAILURE;
        }
        if (a->json) {
                char *s = doctor_report_json(&report);
                if (s)
                        puts(s);
                free(s);
        } else
                doctor_print(&report, stdout);
        r = doctor_report_failed(&report) ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
        doctor_report_clear(&report);
        return r;
}
