# SPDX-License-Identifier: Apache-2.0
"""What tests/harness/with-harness.sh hands a test: the environment of its
private control plane (KUBECONFIG, KUBE_API_URL, KUBE_TOKEN, KUBE_CA_FILE,
KUBECTL, NAP_AUDIT_LOG, DATABASE_URL, PG*, NAP_HARNESS_DIR...), the source
tree, scratch directories and free loopback ports.
"""
import atexit
import os
import shutil
import socket
import sys
import tempfile

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TEMPLATES = os.path.join(SRC, "agent", "templates")
EXAMPLE_VALUES = os.path.join(SRC, "etc", "nap", "values.env")
SCHEMA = os.path.join(SRC, "tests", "oauth", "schema.sql")
HARNESS_SH = os.path.join(SRC, "tests", "harness", "harness.sh")

NEEDED = ("KUBECONFIG", "KUBE_API_URL", "KUBE_TOKEN", "KUBE_CA_FILE", "KUBECTL", "NAP_AUDIT_LOG", "DATABASE_URL")


def env(name):
    v = os.environ.get(name)
    if not v:
        raise SystemExit("%s is not set: run under tests/harness/with-harness.sh" % name)
    return v


def init(argv, usage="NAP_AGENT"):
    """Checks the harness's environment, points the agent at the source
    tree's templates only (no override directory of the machine's), sets
    naptest.agent.BINARY from argv[1] and loads the control plane's schema
    and users (naptest.db.setup_database); returns argv[2:]."""
    from naptest import agent, db
    if len(argv) < 2:
        sys.exit("usage: %s %s" % (argv[0], usage))
    for k in NEEDED:
        env(k)
    agent.BINARY = os.path.realpath(argv[1])
    os.environ["NAP_TEMPLATES_DIR"] = TEMPLATES
    os.environ["NAP_TEMPLATES_OVERRIDE_DIR"] = "/nonexistent/naptest"
    for k in ("NAP_VALUES", "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY"):
        os.environ.pop(k, None)
    db.setup_database()
    return argv[2:]


def free_port(kind=socket.SOCK_STREAM):
    """A loopback port nothing listens on (bound, then released)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


_scratch = []


def scratch(*names):
    """A path in this test file's scratch directory (made on first use,
    removed at exit unless NAP_TEST_KEEP is set)."""
    if not _scratch:
        _scratch.append(tempfile.mkdtemp(prefix="naptest.", dir=os.environ.get("TMPDIR", "/tmp")))
        atexit.register(_remove_scratch)
    return os.path.join(_scratch[0], *names)


def _remove_scratch():
    if os.environ.get("NAP_TEST_KEEP"):
        print("# kept %s" % _scratch[0], flush=True)
    else:
        shutil.rmtree(_scratch[0], ignore_errors=True)
