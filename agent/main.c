/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <sys/prctl.h>

#include "cli.h"
#include "util/wipe.h"

int main(int argc, char *argv[]) {
        /* Every verb holds secrets in memory (values.env's, the kubeconfig's
         * credentials, the ledger's key): no core dump of it, and no ptrace
         * attach by another process of the same user (gcore, gdb -p, reading
         * /proc/PID/mem). A process with CAP_SYS_PTRACE is not stopped by
         * this; the service runs with none (units/nap-agent.service). */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
                perror("nap-agent: prctl(PR_SET_DUMPABLE)");
                return 1;
        }
        wipe_json_allocations(); /* every cJSON block zeroed when it is freed */
        return cli_main(argc, argv);
}
