# SPDX-License-Identifier: Apache-2.0
"""The Python tests' one helper library (standard library only). The meson
test definitions put tests/lib on PYTHONPATH; by hand:

    PYTHONPATH=tests/lib tests/harness/with-harness.sh python3 tests/daemon/test-edits.py build/agent/nap-agent

  checks        Results (counts checks and cases), check/Failure, wait_until
  harness       the harness's environment, init(argv), the source tree, scratch(), free_port()
  kube          the apiserver's REST API, kubectl, kubeconfigs
  db            psql, the schema, oauth_clients rows (xmin), a trigger log of row writes
  audit         the audit log: marks, fences, the agent's requests and writes
  agent         the binary: one-shot verbs (output kept for leaks()), the daemon, NOTIFY_SOCKET
  values        values.env texts, editors' ways of writing them, Site (values.env + state dir)
  compare       the invariant: live objects and rows equal the rendering
  platform      the platform's install.sh as data (docs/platform-objects.json)
  secret_digest the keyed secret digest an apply puts on pod templates
  kubelet       a stand-in kubelet (pod status: Ready, ImagePullBackOff...)
  faultproxy    the one fault proxy (also a program, for the C tests)
"""
