/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rollout.c without a server: Deployments, DaemonSets, their ReplicaSets
 * and Pods as JSON shaped like what kube-apiserver 1.20 and
 * kube-controller-manager write (taken from the harness), each case
 * changing the one field that decides.
 */
#include <string.h>

#include "rollout.h"
#include "tests.h"
#include "util/json.h"

/* JSON written with ' for " (the fixtures stay readable). */
static cJSON *J(const char *text) {
        char *s = strdup(text);
        cJSON *j;

        for (char *p = s; *p; p++)
                if (*p == '\'')
                        *p = '"';
        j = cJSON_Parse(s);
        free(s);
        if (!j)
                abort();
        return j;
}

#define DEP_UID "d-1"
#define RS_OLD_UID "rs-1"
#define RS_NEW_UID "rs-2"

/* A Deployment at generation 2 (revision 2) with the given status. */
static cJSON *deployment(const char *status) {
        char text[4096];

        snprintf(text, sizeof text,
                 "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'nap-browser','namespace':'nap',"
                 "'uid':'" DEP_UID "','generation':2,'annotations':{'deployment.kubernetes.io/revision':'2'}},"
                 "'spec':{'replicas':1,'selector':{'matchLabels':{'app':'nap-browser'}},'template':{'spec':"
                 "{'containers':[{'name':'browser','image':'ghcr.io/x/nap-browser:v9'}]}}},'status':%s}",
                 status);
        return J(text);
}

static cJSON *replicasets(void) {
        return J("[{'metadata':{'name':'nap-browser-old','uid':'" RS_OLD_UID "','annotations':"
                 "{'deployment.kubernetes.io/revision':'1'},'ownerReferences':[{'uid':'" DEP_UID "','controller':true}]}},"
                 "{'metadata':{'name':'nap-browser-7d9f','uid':'" RS_NEW_UID "','annotations':"
                 "{'deployment.kubernetes.io/revision':'2'},'ownerReferences':[{'uid':'" DEP_UID "','controller':true}]}}]");
}

/* A pod owned by owner_uid, with status (JSON) and the browser container. */
static cJSON *pod(const char *name, const char *owner_uid, const char *status) {
        char text[4096];

        snprintf(text, sizeof text,
                 "{'metadata':{'name':'%s','labels':{'app':'nap-browser'},'ownerReferences':[{'uid':'%s',"
                 "'controller':true}]},'spec':{'initContainers':[{'name':'pull','image':'registry.invalid/pull:1'}],"
                 "'containers':[{'name':'browser','image':'ghcr.io/x/nap-browser:v9'}]},'status':%s}",
                 name, owner_uid, status);
        return J(text);
}

static cJSON *list(cJSON *a, cJSON *b) {
        cJSON *l = cJSON_CreateArray();
        if (a)
                cJSON_AddItemToArray(l, a);
        if (b)
                cJSON_AddItemToArray(l, b);
        return l;
}

static RolloutAssessment assess(const char *kind, cJSON *w, cJSON *rs, cJSON *pods) {
        RolloutAssessment a;

        ASSERT_OK(rollout_assess(kind, w, rs, pods, &a));
        cJSON_Delete(w);
        cJSON_Delete(rs);
        cJSON_Delete(pods);
        return a;
}

/* The Deployment in dep_status with its ReplicaSets, no pods. */
static RolloutAssessment assess_deployment(const char *dep_status) {
        return assess("Deployment", deployment(dep_status), replicasets(), NULL);
}

/* A Deployment of generation 2 with its one replica updated, none available. */
#define NONE_AVAILABLE "{'observedGeneration':2,'replicas':1,'updatedReplicas':1,'availableReplicas':0}"

/* The Deployment in dep_status, its ReplicaSets, and one pod of the new
 * ReplicaSet in pod_status. */
static RolloutAssessment assess_new_pod(const char *dep_status, const char *pod_name, const char *pod_status) {
        return assess("Deployment", deployment(dep_status), replicasets(),
                      list(pod(pod_name, RS_NEW_UID, pod_status), NULL));
}

/* a says the rollout fails for reason, in message. */
static void expect_failing(const RolloutAssessment *a, const char *reason, const char *message) {
        ASSERT_EQ(a->health, ROLLOUT_FAILING);
        ASSERT_STREQ(a->reason, reason);
        ASSERT_STREQ(a->message, message);
}

#define WAITING(reason) \
        "{'phase':'Pending','containerStatuses':[{'name':'browser','ready':false,'restartCount':0,'image':" \
        "'ghcr.io/x/nap-browser:v9','imageID':'','state':{'waiting':{'reason':'" reason "','message':'m'}}}]}"

TEST(deployment_available) {
        RolloutAssessment a = assess_deployment(
                "{'observedGeneration':2,'replicas':1,'updatedReplicas':1,'readyReplicas':1,'availableReplicas':1}");
        ASSERT_EQ(a.health, ROLLOUT_AVAILABLE);
        ASSERT_STREQ(a.message, "1/1 available");
        ASSERT_STREQ(a.reason, "");
}

TEST(deployment_not_observed) {
        /* the status of generation 1 says available: not the rollout of 2 */
        RolloutAssessment a = assess_deployment(
                "{'observedGeneration':1,'replicas':1,'updatedReplicas':1,'availableReplicas':1}");
        ASSERT_EQ(a.health, ROLLOUT_PROGRESSING);
        ASSERT_TRUE(!a.observed);
        ASSERT_TRUE(strstr(a.message, "generation 2") != NULL);
        a = assess("Deployment", deployment("{}"), NULL, NULL); /* no status at all yet */
        ASSERT_EQ(a.health, ROLLOUT_PROGRESSING);
}

TEST(deployment_old_replica_left) {
        /* the old pod is the one available: not this rollout's */
        RolloutAssessment a = assess_deployment(
                "{'observedGeneration':2,'replicas':2,'updatedReplicas':1,'availableReplicas':1}");
        ASSERT_EQ(a.health, ROLLOUT_PROGRESSING);
        ASSERT_STREQ(a.message, "0/1 available, 1 updated, 1 old replica(s) left");
        /* the new one is available, the old one not gone yet */
        cJSON *rs = replicasets();
        cJSON_AddItemToObject(cJSON_GetArrayItem(rs, 1), "status", J("{'replicas':1,'availableReplicas':1}"));
        a = assess("Deployment",
                   deployment("{'observedGeneration':2,'replicas':2,'updatedReplicas':1,'availableReplicas':2}"), rs,
                   NULL);
        ASSERT_EQ(a.health, ROLLOUT_PROGRESSING);
        ASSERT_STREQ(a.message, "1/1 available, 1 updated, 1 old replica(s) left");
        /* without the ReplicaSets: at most as many as are updated */
        a = assess("Deployment",
                   deployment("{'observedGeneration':2,'replicas':2,'updatedReplicas':1,'availableReplicas':2}"),
                   NULL, NULL);
        ASSERT_STREQ(a.message, "1/1 available, 1 updated, 1 old replica(s) left");
}

TEST(deployment_image_pull_backoff) {
        static const char *const reasons[] = { "ImagePullBackOff", "ErrImagePull", "InvalidImageName" };

        for (size_t i = 0; i < ELEMENTSOF(reasons); i++) {
                char status[1024];
                snprintf(status, sizeof status,
                         "{'phase':'Pending','containerStatuses':[{'name':'browser','ready':false,'image':"
                         "'ghcr.io/x/nap-browser:v9','state':{'waiting':{'reason':'%s'}}}]}", reasons[i]);
                RolloutAssessment a = assess(
                        "Deployment",
                        deployment("{'observedGeneration':2,'replicas':2,'updatedReplicas':1,'availableReplicas':1}"),
                        replicasets(),
                        list(pod("nap-browser-old-x", RS_OLD_UID, "{'phase':'Running'}"),
                             pod("nap-browser-7d9f-abc", RS_NEW_UID, status)));
                char want[256];
                snprintf(want, sizeof want, "%s for ghcr.io/x/nap-browser:v9 (pod nap-browser-7d9f-abc)", reasons[i]);
                expect_failing(&a, reasons[i], want);
        }
}

TEST(deployment_old_pods_do_not_count) {
        /* a pod of the old ReplicaSet in CrashLoopBackOff is not this rollout's failure */
        RolloutAssessment a = assess(
                "Deployment",
                deployment("{'observedGeneration':2,'replicas':2,'updatedReplicas':1,'availableReplicas':0}"),
                replicasets(),
                list(pod("nap-browser-old-x", RS_OLD_UID, WAITING("CrashLoopBackOff")),
                     pod("nap-browser-7d9f-abc", RS_NEW_UID, "{'phase':'Pending'}")));
        ASSERT_EQ(a.health, ROLLOUT_PROGRESSING);
        ASSERT_STREQ(a.message, "0/1 available, 1 updated, 1 old replica(s) left");
        /* nor does a pod whose ReplicaSet is not the Deployment's */
        a = assess("Deployment",
                   deployment("{'observedGeneration':2,'replicas':1,'updatedReplicas':1,'availableReplicas':0}"),
                   J("[{'metadata':{'name':'other','uid':'" RS_NEW_UID "','annotations':"
                     "{'deployment.kubernetes.io/revision':'2'},'ownerReferences':[{'uid':'someone-else',"
                     "'controller':true}]}}]"),
                   list(pod("nap-browser-7d9f-abc", RS_NEW_UID, WAITING("ImagePullBackOff")), NULL));
        ASSERT_EQ(a.health, ROLLOUT_PROGRESSING);
}

/* What a new pod's state makes of the rollout (the Deployment: NONE_AVAILABLE). */
static const struct {
        const char *pod, *pod_status, *reason, *message;
} pod_failures[] = {
        { "nap-browser-7d9f-abc",
          "{'phase':'Pending','containerStatuses':[{'name':'browser','state':{'waiting':{'reason':"
          "'CreateContainerConfigError','message':'secret \\\"nap-pg-user\\\" not found'}}}]}",
          "CreateContainerConfigError",
          "CreateContainerConfigError in container browser (pod nap-browser-7d9f-abc): "
          "secret \"nap-pg-user\" not found" },
        { "p", WAITING("CrashLoopBackOff"), "CrashLoopBackOff", "CrashLoopBackOff in container browser (pod p): m" },
        /* an init container pulling an image that does not exist */
        { "p", "{'initContainerStatuses':[{'name':'pull','state':{'waiting':{'reason':'ErrImagePull'}}}]}",
          "ErrImagePull", "ErrImagePull for registry.invalid/pull:1 (pod p)" },
        /* unschedulable; the scheduler's newline is escaped: one line */
        { "p",
          "{'phase':'Pending','conditions':[{'type':'PodScheduled','status':'False','reason':'Unschedulable',"
          "'message':'0/3 nodes are available: 3 node(s) didn\\u0027t match node selector.\\n'}]}",
          "Unschedulable",
          "Unschedulable: pod p cannot be placed on a node: 0/3 nodes are available: 3 node(s) didn't match node "
          "selector.\\n" },
};

TEST(deployment_pod_failures) {
        for (size_t i = 0; i < ELEMENTSOF(pod_failures); i++) {
                RolloutAssessment a = assess_new_pod(NONE_AVAILABLE, pod_failures[i].pod, pod_failures[i].pod_status);

                test_context = pod_failures[i].reason;
                expect_failing(&a, pod_failures[i].reason, pod_failures[i].message);
        }
        /* a reason that passes (ContainerCreating) is not a failure */
        RolloutAssessment a = assess_new_pod(NONE_AVAILABLE, "p", WAITING("ContainerCreating"));
        ASSERT_EQ(a.health, ROLLOUT_PROGRESSING);
}

TEST(deployment_progress_deadline) {
        RolloutAssessment a = assess_new_pod(
                "{'observedGeneration':2,'replicas':1,'updatedReplicas':1,'availableReplicas':0,"
                "'conditions':[{'type':'Available','status':'False','reason':'MinimumReplicasUnavailable'},"
                "{'type':'Progressing','status':'False','reason':'ProgressDeadlineExceeded','message':"
                "'ReplicaSet \\\"nap-browser-7d9f\\\" has timed out progressing.'}]}",
                "p", "{'phase':'Pending'}");
        expect_failing(&a, "ProgressDeadlineExceeded",
                       "ProgressDeadlineExceeded: ReplicaSet \"nap-browser-7d9f\" has timed out progressing. "
                       "(0/1 available)");
}

TEST(deployment_missing) {
        RolloutAssessment a = assess("Deployment", NULL, NULL, NULL);
        ASSERT_EQ(a.health, ROLLOUT_FAILING);
        ASSERT_STREQ(a.reason, "NotFound");
}

/* ---- DaemonSet ---- */

static cJSON *daemonset(const char *status) {
        char text[2048];

        snprintf(text, sizeof text,
                 "{'kind':'DaemonSet','metadata':{'name':'sandbox-image-warmer','uid':'ds-1','generation':3,"
                 "'annotations':{'deprecated.daemonset.template.generation':'3'}},'spec':{'template':{'spec':"
                 "{'initContainers':[{'name':'pull-node-22','image':'registry.invalid/node:22'}],"
                 "'containers':[{'name':'pause','image':'registry.k8s.io/pause:3.9'}]}}},'status':%s}",
                 status);
        return J(text);
}

static cJSON *ds_pod(const char *name, const char *generation, const char *status) {
        char text[2048];

        snprintf(text, sizeof text,
                 "{'metadata':{'name':'%s','labels':{'pod-template-generation':'%s'},'ownerReferences':[{'uid':"
                 "'ds-1','controller':true}]},'spec':{'initContainers':[{'name':'pull-node-22','image':"
                 "'registry.invalid/node:22'}],'containers':[{'name':'pause','image':'registry.k8s.io/pause:3.9'}]},"
                 "'status':%s}",
                 name, generation, status);
        return J(text);
}

TEST(daemonset) {
        RolloutAssessment a = assess("DaemonSet",
                                     daemonset("{'observedGeneration':3,'desiredNumberScheduled':2,"
                                               "'updatedNumberScheduled':2,'numberAvailable':2}"),
                                     NULL, NULL);
        ASSERT_EQ(a.health, ROLLOUT_AVAILABLE);
        ASSERT_STREQ(a.message, "2/2 available");

        /* no node to run on: nothing to wait for */
        a = assess("DaemonSet", daemonset("{'observedGeneration':3,'desiredNumberScheduled':0}"), NULL, NULL);
        ASSERT_EQ(a.health, ROLLOUT_AVAILABLE);
        ASSERT_STREQ(a.message, "0/0 available");

        a = assess("DaemonSet",
                   daemonset("{'observedGeneration':2,'desiredNumberScheduled':1,'updatedNumberScheduled':1,"
                             "'numberAvailable':1}"),
                   NULL, NULL);
        ASSERT_EQ(a.health, ROLLOUT_PROGRESSING);

        const char *pull = "{'initContainerStatuses':[{'name':'pull-node-22','state':{'waiting':{'reason':"
                           "'ImagePullBackOff'}}}]}";
        /* a pod of the previous template generation does not count */
        a = assess("DaemonSet",
                   daemonset("{'observedGeneration':3,'desiredNumberScheduled':1,'updatedNumberScheduled':0,"
                             "'numberAvailable':0}"),
                   NULL, list(ds_pod("w-old", "2", pull), NULL));
        ASSERT_EQ(a.health, ROLLOUT_PROGRESSING);
        ASSERT_STREQ(a.message, "0/1 available, 0 updated");
        a = assess("DaemonSet",
                   daemonset("{'observedGeneration':3,'desiredNumberScheduled':1,'updatedNumberScheduled':1,"
                             "'numberAvailable':0}"),
                   NULL, list(ds_pod("w-old", "2", "{}"), ds_pod("w-new", "3", pull)));
        ASSERT_EQ(a.health, ROLLOUT_FAILING);
        ASSERT_STREQ(a.message, "ImagePullBackOff for registry.invalid/node:22 (pod w-new)");
}

TEST(names_and_kinds) {
        RolloutAssessment a;

        ASSERT_EQ(rollout_assess("StatefulSet", NULL, NULL, NULL, &a), -EINVAL);
        ASSERT_TRUE(rollout_kind("Deployment") && rollout_kind("DaemonSet") && !rollout_kind("Service"));
        for (int h = 0; h < _ROLLOUT_HEALTH_MAX; h++)
                ASSERT_EQ(rollout_health_from_string(rollout_health_to_string((RolloutHealth) h)), h);
        ASSERT_EQ(rollout_health_from_string("bogus"), ROLLOUT_UNKNOWN);
        ASSERT_EQ(rollout_health_from_string(NULL), ROLLOUT_UNKNOWN);
}

TEST(hostile_text_is_one_line) {
        /* a kubelet message with a terminal escape and a newline */
        RolloutAssessment a = assess_new_pod(NONE_AVAILABLE, "p",
                                             "{'containerStatuses':[{'name':'browser','state':{'waiting':{'reason':"
                                             "'CreateContainerError','message':'bad\\u001b[2J\\nnext line'}}}]}");
        ASSERT_EQ(a.health, ROLLOUT_FAILING);
        ASSERT_TRUE(strchr(a.message, '\n') == NULL && strchr(a.message, '\033') == NULL);
        ASSERT_TRUE(strstr(a.message, "bad\\x1b[2J\\nnext line") != NULL);
}

TEST(selector_query) {
        cJSON *w = J("{'spec':{'selector':{'matchLabels':{'app':'nap-browser','tier':'a b/c'}}}}");
        char *q = NULL;

        ASSERT_OK(rollout_selector_query(w, &q));
        ASSERT_STREQ(q, "labelSelector=app%3Dnap-browser%2Ctier%3Da%20b%2Fc");
        free(q);
        cJSON_Delete(w);
        w = J("{'spec':{'selector':{'matchExpressions':[]}}}");
        ASSERT_EQ(rollout_selector_query(w, &q), -EINVAL);
        cJSON_Delete(w);
}

/* What rollout_trim() leaves judges the same. */
TEST(trim_keeps_what_is_read) {
        cJSON *d = deployment(NONE_AVAILABLE);
        cJSON *rs = replicasets();
        cJSON *p = pod("p", RS_NEW_UID, WAITING("ImagePullBackOff"));
        cJSON *pods = list(p, NULL), *i;
        RolloutAssessment before, after;
        char *q = NULL;

        cJSON_AddItemToObject(cJSON_GetObjectItem(d, "metadata"), "managedFields", J("[{'manager':'x'}]"));
        cJSON_AddItemToObject(cJSON_GetObjectItem(p, "spec"), "volumes", J("[{'name':'v'}]"));
        cJSON_AddItemToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "spec"), "containers"), 0),
                              "env", J("[{'name':'A','value':'b'}]"));
        ASSERT_OK(rollout_assess("Deployment", d, rs, pods, &before));
        rollout_trim(d);
        cJSON_ArrayForEach(i, rs)
                rollout_trim(i);
        rollout_trim(p);
        ASSERT_OK(rollout_assess("Deployment", d, rs, pods, &after));
        ASSERT_EQ(after.health, before.health);
        ASSERT_STREQ(after.message, before.message);
        ASSERT_EQ(after.health, ROLLOUT_FAILING);
        ASSERT_OK(rollout_selector_query(d, &q));
        ASSERT_STREQ(q, "labelSelector=app%3Dnap-browser");
        free(q);
        ASSERT_NULL(JSON_GET(d, "spec", "template"));
        ASSERT_NULL(JSON_GET(d, "metadata", "managedFields"));
        ASSERT_NULL(JSON_GET(p, "spec", "volumes"));
        ASSERT_NULL(cJSON_GetObjectItem(cJSON_GetArrayItem(JSON_GET(p, "spec", "containers"), 0), "env"));
        ASSERT_TRUE(JSON_GET(p, "spec", "initContainers") != NULL);
        cJSON_Delete(d);
        cJSON_Delete(rs);
        cJSON_Delete(pods);
}

TEST_MAIN(T(selector_query), T(trim_keeps_what_is_read), T(deployment_available), T(deployment_not_observed), T(deployment_old_replica_left),
          T(deployment_image_pull_backoff), T(deployment_old_pods_do_not_count), T(deployment_pod_failures),
          T(deployment_progress_deadline), T(deployment_missing), T(daemonset),
          T(names_and_kinds), T(hostile_text_is_one_line))
