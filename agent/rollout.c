/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See rollout.h. What `kubectl rollout status` looks at (the workload's
 * status against its spec), plus what an operator reads next with `kubectl
 * describe pod`: the waiting reason of the current pods' containers and
 * whether the scheduler could place them.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollout.h"
#include "util/escape.h"
#include "util/json.h"
#include "util/strbuf.h"

#define REVISION_ANNOTATION "deployment.kubernetes.io/revision"
#define DS_GENERATION_ANNOTATION "deprecated.daemonset.template.generation"
#define DS_GENERATION_LABEL "pod-template-generation"

static const char *const health_names[_ROLLOUT_HEALTH_MAX] = {
        [ROLLOUT_UNKNOWN] = "unknown",
        [ROLLOUT_PROGRESSING] = "progressing",
        [ROLLOUT_AVAILABLE] = "available",
        [ROLLOUT_FAILING] = "failing",
};

const char *rollout_health_to_string(RolloutHealth h) {
        return h >= 0 && h < _ROLLOUT_HEALTH_MAX ? health_names[h] : "unknown";
}

RolloutHealth rollout_health_from_string(const char *s) {
        for (int i = 0; s && i < _ROLLOUT_HEALTH_MAX; i++)
                if (streq(health_names[i], s))
                        return (RolloutHealth) i;
        return ROLLOUT_UNKNOWN;
}

bool rollout_kind(const char *kind) {
        return kind && (streq(kind, "Deployment") || streq(kind, "DaemonSet"));
}

/* ---- reading JSON ------------------------------------------------------------ */

static long long json_int(const cJSON *o, const char *key, long long def) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

        return cJSON_IsNumber(v) ? (long long) v->valuedouble : def;
}

static unsigned json_count(const cJSON *o, const char *key) {
        long long v = json_int(o, key, 0);

        return v < 0 ? 0 : v > 1000000 ? 1000000u : (unsigned) v;
}

static const char *annotation(const cJSON *obj, const char *key) {
        return json_string(JSON_GET(obj, "metadata", "annotations"), key);
}

static const char *label(const cJSON *obj, const char *key) {
        return json_string(JSON_GET(obj, "metadata", "labels"), key);
}

static const char *uid_of(const cJSON *obj) {
        return json_string(JSON_GET(obj, "metadata"), "uid");
}

/* Whether obj's controller (ownerReferences with controller: true) has uid. */
static bool controlled_by(const cJSON *obj, const char *uid) {
        const cJSON *ref;

        if (!uid)
                return false;
        cJSON_ArrayForEach(ref, JSON_GET(obj, "metadata", "ownerReferences")) {
                const char *u = json_string(ref, "uid");
                if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller")) && u && streq(u, uid))
                        return true;
        }
        return false;
}

/* The condition of type in status.conditions, or NULL. */
static const cJSON *condition(const cJSON *obj, const char *type) {
        const cJSON *c;

        cJSON_ArrayForEach(c, JSON_GET(obj, "status", "conditions")) {
                const char *t = json_string(c, "type");
                if (t && streq(t, type))
                        return c;
        }
        return NULL;
}

/* ---- the text ---------------------------------------------------------------- */

static void set_failing(RolloutAssessment *a, const char *reason, const char *format, ...) _printf_(3, 4);
/* The text comes from the cluster (names, images, the kubelet's messages):
 * escaped, so that it is one printable line wherever it goes. */
static void set_failing(RolloutAssessment *a, const char *reason, const char *format, ...) {
        char raw[sizeof a->message];
        _cleanup_free_ char *e = NULL;
        va_list ap;

        a->health = ROLLOUT_FAILING;
        snprintf(a->reason, sizeof a->reason, "%s", reason);
        va_start(ap, format);
        vsnprintf(raw, sizeof raw, format, ap);
        va_end(ap);
        e = cescape(raw);
        snprintf(a->message, sizeof a->message, "%s", e ? e : reason);
}

/* A message of the cluster's, at most max bytes of it. */
static void clean_line(const char *in, size_t max, char *out, size_t size) {
        snprintf(out, size, "%.*s", (int) (max < size ? max : size - 1), in ? in : "");
}

/* ---- pods ---------------------------------------------------------------------- */

static bool waiting_reason_fails(const char *r) {
        static const char *const failing[] = {
                "ImagePullBackOff",           "ErrImagePull",     "InvalidImageName", "CrashLoopBackOff",
                "CreateContainerConfigError", "CreateContainerError",
        };

        for (size_t i = 0; r && i < ELEMENTSOF(failing); i++)
                if (streq(failing[i], r))
                        return true;
        return false;
}

static bool image_reason(const char *r) {
        return streq(r, "ImagePullBackOff") || streq(r, "ErrImagePull") || streq(r, "InvalidImageName");
}

/* The image of container name in the pod's spec (init or not), or NULL. */
static const char *spec_image(const cJSON *pod, const char *name) {
        static const char *const lists[] = { "initContainers", "containers" };
        const cJSON *c;

        for (size_t i = 0; name && i < ELEMENTSOF(lists); i++)
                cJSON_ArrayForEach(c, JSON_GET(pod, "spec", lists[i])) {
                        const char *n = json_string(c, "name");
                        if (n && streq(n, name))
                                return json_string(c, "image");
                }
        return NULL;
}

/* A failing container of pod, as reason and message; false when none. */
static bool pod_container_failing(const cJSON *pod, RolloutAssessment *a) {
        static const char *const lists[] = { "initContainerStatuses", "containerStatuses" };
        const char *pod_name = json_string(JSON_GET(pod, "metadata"), "name");
        const cJSON *cs;

        for (size_t i = 0; i < ELEMENTSOF(lists); i++)
                cJSON_ArrayForEach(cs, JSON_GET(pod, "status", lists[i])) {
                        const cJSON *waiting = JSON_GET(cs, "state", "waiting");
                        const char *reason = json_string(waiting, "reason"), *name = json_string(cs, "name");
                        const char *image = spec_image(pod, name);
                        char detail[200];

                        if (!waiting_reason_fails(reason))
                                continue;
                        if (!image)
                                image = json_string(cs, "image");
                        if (image_reason(reason)) {
                                set_failing(a, reason, "%s for %s (pod %s)", reason, strna(image), strna(pod_name));
                                return true;
                        }
                        clean_line(json_string(waiting, "message"), 160, detail, sizeof detail);
                        set_failing(a, reason, "%s in container %s (pod %s)%s%s", reason, strna(name), strna(pod_name),
                                    *detail ? ": " : "", detail);
                        return true;
                }
        return false;
}

static bool pod_unschedulable(const cJSON *pod, RolloutAssessment *a) {
        const cJSON *c = condition(pod, "PodScheduled");
        const char *status = json_string(c, "status"), *reason = json_string(c, "reason");
        char detail[200];

        if (!status || !streq(status, "False") || !reason || !streq(reason, "Unschedulable"))
                return false;
        clean_line(json_string(c, "message"), 160, detail, sizeof detail);
        set_failing(a, "Unschedulable", "Unschedulable: pod %s cannot be placed on a node%s%s",
                    strna(json_string(JSON_GET(pod, "metadata"), "name")), *detail ? ": " : "", detail);
        return true;
}

typedef bool (*PodFilter)(const cJSON *pod, const void *userdata);

/* The first failure among the pods filter accepts (in their order). */
static bool pods_failing(const cJSON *pods, PodFilter filter, const void *userdata, RolloutAssessment *a) {
        const cJSON *pod;

        cJSON_ArrayForEach(pod, pods)
                if (filter(pod, userdata) && !json_string(JSON_GET(pod, "metadata"), "deletionTimestamp") &&
                    (pod_container_failing(pod, a) || pod_unschedulable(pod, a)))
                        return true;
        return false;
}

/* ---- Deployment ------------------------------------------------------------------ */

/* The ReplicaSet of the Deployment's current revision, or NULL. */
static const cJSON *newest_replicaset(const cJSON *dep, const cJSON *replicasets) {
        const char *revision = annotation(dep, REVISION_ANNOTATION), *uid = uid_of(dep);
        const cJSON *rs;

        if (!revision)
                return NULL;
        cJSON_ArrayForEach(rs, replicasets) {
                const char *r = annotation(rs, REVISION_ANNOTATION);
                if (r && streq(r, revision) && controlled_by(rs, uid))
                        return rs;
        }
        return NULL;
}

static bool owned_by(const cJSON *pod, const void *uid) {
        return controlled_by(pod, uid);
}

static void assess_deployment(const cJSON *dep, const cJSON *replicasets, const cJSON *pods, RolloutAssessment *a) {
        const cJSON *status = JSON_GET(dep, "status"), *rs;
        const cJSON *progressing = condition(dep, "Progressing");
        const char *preason = json_string(progressing, "reason");
        unsigned replicas = json_count(status, "replicas");

        a->desired = (unsigned) json_int(JSON_GET(dep, "spec"), "replicas", 1);
        a->updated = json_count(status, "updatedReplicas");
        a->available = json_count(status, "availableReplicas");
        if (!a->observed) {
                snprintf(a->message, sizeof a->message, "waiting for the controller to see generation %lld",
                         a->generation);
                return;
        }
        if (a->updated >= a->desired && a->available >= a->desired && replicas <= a->updated) {
                a->health = ROLLOUT_AVAILABLE;
                snprintf(a->message, sizeof a->message, "%u/%u available", a->available, a->desired);
                return;
        }
        /* Not available yet: count only the new ReplicaSet's available pods
         * (the old ones still serve, but they are not this rollout's). */
        rs = newest_replicaset(dep, replicasets);
        if (rs)
                a->available = json_count(JSON_GET(rs, "status"), "availableReplicas");
        else if (a->available > a->updated)
                a->available = a->updated; /* at most: some of them are old */
        if (preason && streq(preason, "ProgressDeadlineExceeded")) {
                char detail[200];
                clean_line(json_string(progressing, "message"), 160, detail, sizeof detail);
                set_failing(a, "ProgressDeadlineExceeded", "ProgressDeadlineExceeded: %s (%u/%u available)",
                            *detail ? detail : "no progress within spec.progressDeadlineSeconds", a->available,
                            a->desired);
                return;
        }
        if (rs && pods_failing(pods, owned_by, uid_of(rs), a))
                return;
        if (replicas > a->updated)
                snprintf(a->message, sizeof a->message, "%u/%u available, %u updated, %u old replica(s) left",
                         a->available, a->desired, a->updated, replicas - a->updated);
        else
                snprintf(a->message, sizeof a->message, "%u/%u available, %u updated", a->available, a->desired,
                         a->updated);
}

/* ---- DaemonSet --------------------------------------------------------------------- */

typedef struct DsPods {
        const char *uid;
        const char *generation; /* of the current template, or NULL: every pod it owns */
} DsPods;

static bool current_ds_pod(const cJSON *pod, const void *userdata) {
        const DsPods *d = userdata;
        const char *g = label(pod, DS_GENERATION_LABEL);

        return controlled_by(pod, d->uid) && (!d->generation || !g || streq(g, d->generation));
}

static void assess_daemonset(const cJSON *ds, const cJSON *pods, RolloutAssessment *a) {
        const cJSON *status = JSON_GET(ds, "status");
        DsPods d = { uid_of(ds), annotation(ds, DS_GENERATION_ANNOTATION) };

        a->desired = json_count(status, "desiredNumberScheduled");
        a->updated = json_count(status, "updatedNumberScheduled");
        a->available = json_count(status, "numberAvailable");
        if (!a->observed) {
                snprintf(a->message, sizeof a->message, "waiting for the controller to see generation %lld",
                         a->generation);
                return;
        }
        if (a->updated >= a->desired && a->available >= a->desired) {
                a->health = ROLLOUT_AVAILABLE;
                snprintf(a->message, sizeof a->message, "%u/%u available", a->available, a->desired);
                return;
        }
        if (pods_failing(pods, current_ds_pod, &d, a))
                return;
        snprintf(a->message, sizeof a->message, "%u/%u available, %u updated", a->available, a->desired, a->updated);
}

int rollout_assess(const char *kind, const cJSON *workload, const cJSON *replicasets, const cJSON *pods,
                   RolloutAssessment *ret) {
        RolloutAssessment a = { .health = ROLLOUT_PROGRESSING };
        bool deployment;

        assert(kind);
        assert(ret);

        if (!rollout_kind(kind))
                return -EINVAL;
        deployment = streq(kind, "Deployment");
        if (!workload) {
                set_failing(&a, "NotFound", "the %s does not exist", kind);
                *ret = a;
                return 0;
        }
        a.generation = json_int(JSON_GET(workload, "metadata"), "generation", 0);
        a.observed = json_int(JSON_GET(workload, "status"), "observedGeneration", -1) >= a.generation;
        if (deployment)
                assess_deployment(workload, replicasets, pods, &a);
        else
                assess_daemonset(workload, pods, &a);
        *ret = a;
        return 0;
}

static void put_query_value(StrBuf *b, const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("-_.", *p))
                        strbuf_putc(b, (char) *p);
                else
                        strbuf_printf(b, "%%%02X", *p);
}

int rollout_selector_query(const cJSON *workload, char **ret) {
        const cJSON *l;
        StrBuf b = { 0 };
        bool first = true;

        assert(workload);
        assert(ret);

        strbuf_puts(&b, "labelSelector=");
        cJSON_ArrayForEach(l, JSON_GET(workload, "spec", "selector", "matchLabels")) {
                if (!cJSON_IsString(l))
                        continue;
                if (!first)
                        strbuf_puts(&b, "%2C");
                first = false;
                put_query_value(&b, l->string);
                strbuf_puts(&b, "%3D");
                put_query_value(&b, l->valuestring);
        }
        if (first) {
                strbuf_free(&b);
                return -EINVAL;
        }
        *ret = strbuf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

/* Keeps of the object's members only those named in keep (NULL-terminated). */
static void keep_only(cJSON *o, const char *const *keep) {
        cJSON *i = o ? o->child : NULL;

        while (i) {
                cJSON *next = i->next;
                bool wanted = false;
                for (const char *const *k = keep; *k && !wanted; k++)
                        wanted = i->string && streq(i->string, *k);
                if (!wanted)
                        cJSON_Delete(cJSON_DetachItemViaPointer(o, i));
                i = next;
        }
}

void rollout_trim(cJSON *obj) {
        static const char *const spec_keep[] = { "replicas", "selector", "containers", "initContainers", NULL };
        static const char *const container_keep[] = { "name", "image", NULL };
        cJSON *metadata, *spec, *c;

        assert(obj);

        metadata = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
        cJSON_DeleteItemFromObjectCaseSensitive(metadata, "managedFields");
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(metadata, "annotations"),
                                                "kubectl.kubernetes.io/last-applied-configuration");
        if (!cJSON_IsObject(spec))
                return;
        keep_only(spec, spec_keep);
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, "containers"))
                keep_only(c, container_keep);
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, "initContainers"))
                keep_only(c, container_keep);
}
