/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `nap-agent restart`: what install.sh's `rollout restart` of the modules'
 * workloads did on every run, on demand, so that an image re-pushed under a
 * mutable tag (`:latest`) is pulled again (server-side apply alone never
 * touches an unchanged pod template). Like `kubectl rollout restart`, it
 * stamps the pod template with a restartedAt annotation; unlike it, under a
 * field manager of its own with a merge patch (an Update, not an Apply), so
 * the annotation is that manager's and the agent's next server-side apply,
 * which does not name it, leaves it alone instead of removing it and
 * rolling the pods a second time. The daemon never does this by itself.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli-internal.h"
#include "manager.h"
#include "util/json.h"
#include "util/log.h"

#define RESTART_FIELD_MANAGER   "nap-agent-restart"
#define RESTARTED_AT_ANNOTATION "kubectl.kubernetes.io/restartedAt"

/* The workloads of the modules that are on: their Deployments and
 * DaemonSets, but not coturn (its image is pinned by COTURN_IMAGE, and
 * install.sh never restarted it). */
static bool restartable(const DesiredObject *o) {
        return !o->partial && o->module != MODULE_TURN && (streq(o->kind, "Deployment") || streq(o->kind, "DaemonSet"));
}

/* RFC 3339 UTC with milliseconds, so that two restarts in one second differ. */
static int restart_stamp(char *buf, size_t size) {
        struct timespec ts;
        struct tm tm;
        char sec[32];

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !gmtime_r(&ts.tv_sec, &tm) ||
            strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                return -EINVAL;
        snprintf(buf, size, "%s.%03ldZ", sec, ts.tv_nsec / 1000000L);
        return 0;
}

static cJSON *restart_patch(const char *stamp) {
        cJSON *patch = cJSON_CreateObject(), *ann;

        ann = cJSON_AddObjectToObject(
                cJSON_AddObjectToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "spec"), "template"),
                                        "metadata"),
                "annotations");
        if (!ann || !cJSON_AddStringToObject(ann, RESTARTED_AT_ANNOTATION, stamp)) {
                cJSON_Delete(patch);
                return NULL;
        }
        return patch;
}

static int restart_one(KubeClient *k, const DesiredObject *o, const cJSON *patch) {
        KubeRef ref = { o->api_version, o->kind, o->namespace, o->name };
        KubeError err = { 0 };
        int r;

        r = kube_patch(k, &ref, RESTART_FIELD_MANAGER, patch, NULL, &err);
        if (r == -ENOENT)
                return log_error_errno(r, "%s %s/%s does not exist: run `nap-agent apply` first", o->kind, o->namespace,
                                       o->name);
        if (r < 0)
                return log_error_errno(r, "Failed to restart %s %s/%s: %s", o->kind, o->namespace, o->name,
                                       err.message);
        log_info("restarted %s %s/%s: its pods are replaced and pull their images again", o->kind, o->namespace,
                 o->name);
        return 0;
}

int cli_restart(CliArgs *a) {
        _cleanup_(cli_session_clear) CliSession s = { 0 };
        _cleanup_(cJSON_Deletep) cJSON *patch = NULL;
        char stamp[64];
        unsigned n = 0, failed = 0;
        KubeClient *k;

        assert(a);

        if (cli_session_open(a, "nothing restarted", &s) < 0 || manager_kube(s.m, s.config, &k) < 0) /* logged */
                return CLI_EXIT_FAILURE;
        const DesiredSet *d = s.desired;
        if (restart_stamp(stamp, sizeof stamp) < 0 || !(patch = restart_patch(stamp))) {
                log_error_errno(ENOMEM, "Out of memory");
                return CLI_EXIT_FAILURE;
        }
        for (size_t i = 0; i < d->n_objects; i++) {
                if (!restartable(&d->objects[i]))
                        continue;
                n++;
                if (restart_one(k, &d->objects[i], patch) < 0)
                        failed++;
        }
        if (n == 0)
                log_info("nothing to restart: neither module is on");
        return failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
