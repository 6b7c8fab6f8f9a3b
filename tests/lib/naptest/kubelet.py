# SPDX-License-Identifier: Apache-2.0
"""A stand-in kubelet, for the tests of rollouts (see Kubelet)."""
import threading
import time

from naptest.checks import Failure, wait_until
from naptest.kube import call


def is_ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions", []))


class Kubelet:
    """There is no kubelet (nor scheduler) in the harness: kube-controller-
    manager makes ReplicaSets and Pods (HARNESS_COMPONENTS="kube kcm pg"),
    and this sets their status through the status subresource the way a
    kubelet would: Ready, or a container waiting for a reason
    (ImagePullBackOff...). A Node object gives DaemonSets a node to run on."""

    def __init__(self, namespace="nap"):
        self.ns = namespace

    def ensure_node(self, name="node-a"):
        call("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": name, "labels": {"kubernetes.io/hostname": name}}}, ok=(201, 409))

    def get(self, path):
        return call("GET", path)

    def current_pods(self, kind, name):
        """The live pods of the workload's current template: of the
        Deployment's ReplicaSet of its revision, or of the DaemonSet's
        template generation (not being deleted)."""
        if kind == "Deployment":
            dep = self.get("/apis/apps/v1/namespaces/%s/deployments/%s" % (self.ns, name))
            rev = dep["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision")
            rss = self.get("/apis/apps/v1/namespaces/%s/replicasets?labelSelector=app%%3D%s" % (self.ns, name))
            owners = {rs["metadata"]["uid"] for rs in rss["items"]
                      if rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision") == rev}
            gen = None
        else:
            ds = self.get("/apis/apps/v1/namespaces/%s/daemonsets/%s" % (self.ns, name))
            owners = {ds["metadata"]["uid"]}
            gen = ds["metadata"].get("annotations", {}).get("deprecated.daemonset.template.generation")
        pods = self.get("/api/v1/namespaces/%s/pods?labelSelector=app%%3D%s" % (self.ns, name))["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")
                and any(o.get("uid") in owners for o in p["metadata"].get("ownerReferences", []))
                and (gen is None or p["metadata"].get("labels", {}).get("pod-template-generation") == gen)]

    def wait_pods(self, kind, name, exclude=(), timeout=30):
        """The current pods once there is one whose name is not in exclude."""
        found = wait_until(lambda: [p for p in self.current_pods(kind, name)
                                    if p["metadata"]["name"] not in exclude], timeout, 0.1)
        if not found:
            raise Failure("no new pod of %s %s after %d s" % (kind, name, timeout))
        return found

    def patch_status(self, pod, status):
        path = "/api/v1/namespaces/%s/pods/%s/status" % (self.ns, pod["metadata"]["name"])
        return call("PATCH", path, {"status": status}, ctype="application/merge-patch+json")

    def ready(self, pod):
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        running = [{"name": c["name"], "image": c["image"], "imageID": "", "ready": True, "restartCount": 0,
                    "started": True, "state": {"running": {"startedAt": now}}} for c in pod["spec"]["containers"]]
        return self.patch_status(pod, {"phase": "Running", "containerStatuses": running, "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now}]})

    def waiting(self, pod, container, reason, init=False):
        """container (an init container with init) waiting for reason, as
        the kubelet reports an image it cannot pull or a crash loop."""
        spec = pod["spec"]["initContainers" if init else "containers"]
        image = [c["image"] for c in spec if c["name"] == container][0]
        key = "initContainerStatuses" if init else "containerStatuses"
        return self.patch_status(pod, {"phase": "Pending", key: [{
            "name": container, "image": image, "imageID": "", "ready": False, "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": "Back-off pulling image \"%s\"" % image}}}]})

    def start_auto(self, interval=0.2):
        """A thread that makes every pod of the namespace Ready soon after
        it appears, as kubelets do when images pull and containers start
        (the benchmark: rollouts complete, and settle). stop_auto() ends it."""
        self.auto_stop = threading.Event()

        def run():
            while not self.auto_stop.wait(interval):
                try:
                    pods = self.get("/api/v1/namespaces/%s/pods" % self.ns)["items"]
                    for p in pods:
                        if not p["metadata"].get("deletionTimestamp") and not is_ready(p):
                            self.ready(p)
                except (OSError, Failure, ValueError):
                    continue  # a pod deleted meanwhile, the server busy: the next round

        self.auto_thread = threading.Thread(target=run, daemon=True)
        self.auto_thread.start()

    def stop_auto(self):
        self.auto_stop.set()
        self.auto_thread.join(5)

    def ready_all(self, kind, name):
        """Makes the workload's current pods Ready that are not yet."""
        for p in self.wait_pods(kind, name):
            if not is_ready(p):
                self.ready(p)

    def roll_out(self, kind, name, exclude=(), timeout=30):
        """Makes the workload's new pods Ready; returns their names."""
        pods = self.wait_pods(kind, name, exclude, timeout)
        for p in pods:
            self.ready(p)
        return [p["metadata"]["name"] for p in pods]
