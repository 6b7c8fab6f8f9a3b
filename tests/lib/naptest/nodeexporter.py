# SPDX-License-Identifier: Apache-2.0
"""The real node_exporter (Debian's prometheus-node-exporter), started on a
free loopback port with only its textfile collector, reading a directory
the test chooses; and the Prometheus text format it serves, parsed."""
import os
import re
import shutil
import subprocess
import urllib.request

from naptest.checks import must_wait
from naptest.harness import free_port, scratch


def binary():
    """The node_exporter binary; a missing one fails the test (never a skip)."""
    b = os.environ.get("NAP_NODE_EXPORTER") or shutil.which("prometheus-node-exporter") or \
        shutil.which("node_exporter")
    if not b:
        raise SystemExit("prometheus-node-exporter not found (Debian: apt install prometheus-node-exporter)")
    return b


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def parse(text):
    """The samples of a text in the exposition format: a dict
    (name, ((label, value), ...)) -> float, the labels sorted. Comment
    lines are skipped; a line that is neither raises ValueError."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError("not a sample line: %r" % line)
        labels = []
        if m.group(2):
            pos = 0
            for lm in LABEL.finditer(m.group(2)):
                if lm.start() != pos:
                    raise ValueError("bad labels in %r" % line)
                labels.append((lm.group(1), lm.group(2).encode().decode("unicode_escape")))
                pos = lm.end()
            if pos != len(m.group(2)):
                raise ValueError("bad labels in %r" % line)
        out[(m.group(1), tuple(sorted(labels)))] = float(m.group(3))
    return out


def select(samples, prefix):
    return {k: v for k, v in samples.items() if k[0].startswith(prefix)}


class NodeExporter:
    """node_exporter --collector.disable-defaults --collector.textfile on
    127.0.0.1:PORT; stopped (by its PID) with stop()."""

    def __init__(self, textfile_dir):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d/metrics" % self.port
        self.log = scratch("node-exporter-%d.log" % self.port)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [binary(), "--web.listen-address=127.0.0.1:%d" % self.port, "--collector.disable-defaults",
                 "--collector.textfile", "--collector.textfile.directory=" + textfile_dir],
                stdout=log, stderr=subprocess.STDOUT)
        must_wait("node_exporter to answer on %s (log: %s)" % (self.url, self.log), self._answers, timeout=30)

    def _answers(self):
        if self.proc.poll() is not None:
            with open(self.log) as f:
                raise SystemExit("node_exporter exited %s:\n%s" % (self.proc.returncode, f.read()))
        try:
            return self.scrape_text()
        except OSError:
            return None

    def scrape_text(self):
        with urllib.request.urlopen(self.url, timeout=5) as r:
            return r.read().decode()

    def scrape(self):
        """The samples it serves now (parse())."""
        return parse(self.scrape_text())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
