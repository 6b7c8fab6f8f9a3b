/* SPDX-License-Identifier: Apache-2.0 */
/* See loopprobe.h. */
#include <stdio.h>
#include <sys/resource.h>

#include "loopprobe.h"
#include "tests.h"

long thread_voluntary_switches(void) {
        struct rusage ru;

        ASSERT_TRUE(getrusage(RUSAGE_THREAD, &ru) == 0);
        return ru.ru_nvcsw;
}

int loop_probe_run(LoopProbe *p, sd_event *e, uint64_t timeout_usec) {
        long v;
        int r;

        r = sd_event_prepare(e);
        if (r == 0)
                r = sd_event_wait(e, timeout_usec);
        if (r <= 0)
                return r;
        v = thread_voluntary_switches();
        r = sd_event_dispatch(e);
        v = thread_voluntary_switches() - v;
        p->dispatches++;
        if (v > 0) {
                p->waited++;
                fprintf(stderr, "  dispatch %u waited in the kernel (%ld voluntary context switch(es))\n",
                        p->dispatches, v);
        }
        return r < 0 ? r : 1;
}

void loop_probe_check(const LoopProbe *p, unsigned min_dispatches, const char *what) {
        printf("  %s: %u dispatches, %u waited in the kernel\n", what, p->dispatches, p->waited);
        if (p->dispatches < min_dispatches)
                TEST_FAIL("%s: only %u dispatches watched, wanted at least %u", what, p->dispatches, min_dispatches);
        if (p->waited > 0)
                TEST_FAIL("%s: the loop was blocked: %u of %u dispatches waited in the kernel", what, p->waited,
                          p->dispatches);
}
