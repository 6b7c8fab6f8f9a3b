#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The real node_exporter (Debian's prometheus-node-exporter) serves the
metrics file the daemon's code writes: its textfile collector reads it
without error and every nap_agent_ sample comes out as written.

    PYTHONPATH=tests/lib tests/metrics/test-node-exporter.py build/tests/metrics/metrics-dump
"""
import os
import subprocess
import sys

from naptest.checks import Results, check
from naptest.harness import scratch
from naptest.nodeexporter import NodeExporter, parse, select


def served_as_written(ne, path):
    with open(path) as f:
        written = parse(f.read())
    got = ne.scrape()
    served = select(got, "nap_agent_")
    check(written, "the file holds no sample")
    missing = sorted(set(written) - set(served))
    extra = sorted(set(served) - set(written))
    check(not missing and not extra, "samples differ: missing %s, extra %s" % (missing, extra))
    diff = [(k, written[k], served[k]) for k in written if written[k] != served[k]]
    check(not diff, "values differ (written, served): %s" % diff)
    print("  %d nap_agent_ samples served as written" % len(written))


def collector_read_it(ne, path):
    got = ne.scrape()
    check(got.get(("node_textfile_scrape_error", ())) == 0.0,
          "node_textfile_scrape_error is %s" % got.get(("node_textfile_scrape_error", ())))
    mtimes = {dict(k[1]).get("file"): v for k, v in got.items() if k[0] == "node_textfile_mtime_seconds"}
    # node_exporter 1.5 labels the file with its path, older ones with its name
    mtime = mtimes.get(path, mtimes.get(os.path.basename(path)))
    check(mtime == float(int(os.stat(path).st_mtime)),
          "node_textfile_mtime_seconds %s, the file's mtime %s" % (mtimes, os.stat(path).st_mtime))


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: %s METRICS_DUMP" % argv[0])
    T = Results("metrics-node-exporter")
    textfile = scratch("textfile")
    os.makedirs(textfile)
    path = subprocess.run([argv[1], textfile], check=True, capture_output=True, text=True).stdout.strip()
    ne = NodeExporter(textfile)
    try:
        T.case("node_exporter serves every nap_agent_ sample as written", served_as_written, ne, path)
        T.case("its textfile collector read the file (no scrape error, its mtime)", collector_read_it, ne, path)
    finally:
        ne.stop()
    return T.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
