/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rollout health: from a workload (Deployment or DaemonSet) as the API
 * server returns it, its ReplicaSets and its Pods, whether what was applied
 * runs: available, still progressing, or failing with the reason and the
 * image or container named. A pure function of the JSON it is handed, so
 * it is tested without a server; the daemon (daemon-rollouts.c), `apply
 * --wait` and `doctor` all judge with it. Never a secret in its text: only
 * names, images, counts and the reasons Kubernetes gives.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>

typedef enum RolloutHealth {
        ROLLOUT_UNKNOWN,
        ROLLOUT_PROGRESSING,
        ROLLOUT_AVAILABLE,
        ROLLOUT_FAILING,
        _ROLLOUT_HEALTH_MAX,
} RolloutHealth;

typedef struct RolloutAssessment {
        RolloutHealth health;
        /* FAILING: the Kubernetes reason ("ImagePullBackOff", "ProgressDeadlineExceeded",
         * "Unschedulable", "NotFound"...); else "" */
        char reason[64];
        /* One line: "ImagePullBackOff for IMAGE (pod NAME)", "1/1 available",
         * "0/1 available, 1 updated"... */
        char message[400];
        unsigned desired;   /* replicas, or nodes that should run the DaemonSet's pod */
        unsigned updated;   /* of the current template */
        unsigned available;
        bool observed;      /* the controller has seen the current generation */
        long long generation;
} RolloutAssessment;

/* Judges workload (an object of kind, "Deployment" or "DaemonSet"; NULL
 * when it does not exist), with replicasets and pods (JSON arrays of the
 * objects its selector matches; either may be NULL: no failure is then
 * read from them). The pods that count are those of the current template:
 * owned by the Deployment's newest ReplicaSet (the one of its revision),
 * or by the DaemonSet with its current template generation. Available:
 * the controller observed the generation, and as many replicas are updated
 * and available as desired (and no old one is left). Failing: the
 * Deployment's ProgressDeadlineExceeded, or a current pod's container (or
 * init container) waiting in ImagePullBackOff, ErrImagePull,
 * InvalidImageName, CrashLoopBackOff, CreateContainerConfigError or
 * CreateContainerError, or a pod the scheduler cannot place. -EINVAL for
 * another kind. */
int rollout_assess(const char *kind, const cJSON *workload, const cJSON *replicasets, const cJSON *pods,
                   RolloutAssessment *ret);

/* "unknown", "progressing", "available", "failing". */
const char *rollout_health_to_string(RolloutHealth h);
RolloutHealth rollout_health_from_string(const char *s);

/* "Deployment", "DaemonSet": the kinds that roll out. */
bool rollout_kind(const char *kind);

/* The query that lists what the workload's spec.selector.matchLabels
 * selects, "labelSelector=k1%3Dv1%2Ck2%3Dv2" (URL-encoded; matchExpressions
 * are not read). -EINVAL when it has no matchLabels. */
int rollout_selector_query(const cJSON *workload, char **ret);

/* Drops from a Deployment, DaemonSet, ReplicaSet or Pod what rollout_assess()
 * and rollout_selector_query() do not read (the pod template, volumes, env,
 * managedFields...), so that what follows a rollout keeps a fraction of
 * the objects. */
void rollout_trim(cJSON *obj);
