#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The oauth_clients rows and the database they are in (issue 19, items 4
and 5), with the real `nap-agent` against the harness's PostgreSQL (and a
second one this test starts), the rows' xmin as the witness of a write.

  - An admin's redirect URI stays: `plan --live` notes it as kept, resyncs
    (`apply --resync`, the daemon's timer) write nothing, an edit replaces
    only the agent's URI, and drift of the agent's URI shows and is repaired
    next to the admin's.
  - DATABASE_URL pointed at another database (the environment's, then
    values.env's): `plan` says both clients are registered in the new
    database, `apply` registers both there in one pass, `status` (text and
    --json) says where.
  - Another server behind the same address (a TCP forwarder re-pointed at a
    second PostgreSQL): told by its system identifier once connected, so an
    edit of one client registers the other one there too, in the same pass.

    with-harness.sh test-clients.py NAP_AGENT
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading

from naptest import agent
from naptest.agent import Daemon
from naptest.checks import Results, check, must_wait
from naptest.db import psql, rows
from naptest.faultproxy import dial, pipe
from naptest.harness import HARNESS_SH, SCHEMA, env, init
from naptest.kube import ensure_namespace
from naptest.values import Site, module_values

ADMIN_URI = "https://admin.example.com/api/auth/callback"


def uri(port):
    return "http://192.0.2.10:%s/api/auth/callback" % port  # module_values: TOS_HOST 192.0.2.10


def psql_in(sql, **pg):
    """psql -At with the harness's PG* but those given (PGDATABASE=..., PGPORT=...)."""
    p = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, **pg))
    check(p.returncode == 0, "psql failed: %s: %s" % (sql, p.stderr))
    return p.stdout


def superuser(sql, harness_dir, port, dbname="postgres"):
    """sql as the superuser postgres, through a harness's own socket (trust)."""
    p = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", os.path.join(harness_dir, "pg", "sock"),
                        "-p", str(port), "-U", "postgres", "-d", dbname, "-c", sql], capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 0, "psql as postgres failed: %s: %s" % (sql, p.stderr))
    return p.stdout


def seed_schema(**pg):
    """The control plane's schema and users in the database pg names."""
    p = subprocess.run(["psql", "-Xq", "-v", "ON_ERROR_STOP=1", "-f", SCHEMA], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, **pg))
    check(p.returncode == 0, "loading the schema failed: %s" % p.stderr)
    psql_in("INSERT INTO users(id, email, role, created_at) VALUES "
            "('u-admin-old', 'old@example.com', 'admin', now() - interval '2 days')", **pg)


def rows_in(**pg):
    """id -> redirect_uris of the rows in the database pg names."""
    out = psql_in("SELECT id, array_to_json(redirect_uris) FROM oauth_clients ORDER BY id", **pg)
    return {line.split("|", 1)[0]: json.loads(line.split("|", 1)[1]) for line in out.splitlines() if line}


def sysid(**pg):
    return psql_in("SELECT system_identifier FROM pg_control_system()", **pg).strip()


def clients_db(site):
    return {c["id"]: c["database"] for c in site.status()["oauthClients"]}


# ---- an admin's URI ----------------------------------------------------------------------

def case_admin_uri():
    site = Site("admin-uri", module_values("admin-uri"))
    psql("DELETE FROM oauth_clients")
    site.apply_ok()
    check(rows()["sandbox-service"]["redirect_uris"] == [uri(30086)], "registered: %r" % rows())
    psql("UPDATE oauth_clients SET redirect_uris = redirect_uris || ARRAY['%s'] WHERE id = 'sandbox-service'"
         % ADMIN_URI)
    before = rows()

    r = site.plan("--live")
    check(r.rc == 0, "plan --live with an admin's URI added: want 0 (nothing to change), got %r" % r)
    kept = 'note: oauth client "sandbox-service": keeping redirect URI "%s", which nap-agent did not register' \
        % ADMIN_URI
    check(kept in r.out, "plan --live does not show the admin's URI as kept:\n%s" % r.out)
    for _ in range(2):
        site.apply_ok("--resync")
    check(rows() == before, "apply --resync wrote the rows: %r, before %r" % (rows(), before))

    # The daemon's own resync (every second here), fenced by its STATUS= lines.
    d = Daemon(site.dir, None, args=("--resync=1",))
    try:
        check(d.ready, "the daemon did not become ready")
        must_wait("three passes of the daemon", lambda: len(d.notify.statuses()) >= 3, timeout=60)
    finally:
        check(d.stop() == 0, "the daemon did not exit 0")
    check(rows() == before, "the daemon's resync wrote the rows: %r, before %r" % (rows(), before))

    # An edit: the agent's URI replaced, the admin's kept in its place.
    site.vals["SANDBOX_NODE_PORT"] = "30096"
    site.write()
    r = site.plan("--live")
    want = 'redirect_uris: ["%s", "%s"] → ["%s", "%s"]' % (uri(30086), ADMIN_URI, ADMIN_URI, uri(30096))
    check(r.rc == 2 and want in r.out and kept in r.out, "plan --live of the edit: want %r, got %r" % (want, r))
    site.apply_ok()
    check(rows()["sandbox-service"]["redirect_uris"] == [ADMIN_URI, uri(30096)], "after the edit: %r" % rows())

    # Drift: the agent's URI taken out by hand shows, and a resync puts it back.
    psql("UPDATE oauth_clients SET redirect_uris = ARRAY['%s'] WHERE id = 'sandbox-service'" % ADMIN_URI)
    r = site.plan("--live")
    want = 'redirect_uris: ["%s"] → ["%s", "%s"]' % (ADMIN_URI, ADMIN_URI, uri(30096))
    check(r.rc == 2 and '~ update oauth client "sandbox-service"' in r.out and want in r.out,
          "plan --live of the drift: want %r, got %r" % (want, r))
    r = site.apply_ok("--resync")
    check('repaired oauth client "sandbox-service" (its row had been changed)' in r.err, "apply --resync: %r" % r)
    check(rows()["sandbox-service"]["redirect_uris"] == [ADMIN_URI, uri(30096)], "after the repair: %r" % rows())
    check(site.plan("--live").rc == 0, "plan --live after the repair still sees changes")


# ---- another database ------------------------------------------------------------------------

def case_database_url_switch():
    harness, port = env("NAP_HARNESS_DIR"), env("PGPORT")
    superuser("DROP DATABASE IF EXISTS nap2", harness, port)
    superuser("CREATE DATABASE nap2 OWNER nap", harness, port)
    seed_schema(PGDATABASE="nap2")
    url1 = env("DATABASE_URL")
    check(url1.endswith("/nap"), "the harness's DATABASE_URL does not end in /nap: the test needs it")
    url2 = url1[:-len("/nap")] + "/nap2"
    env2 = dict(os.environ, DATABASE_URL=url2)
    ident = sysid()

    site = Site("db-switch", module_values("db-switch"))
    psql("DELETE FROM oauth_clients")
    site.apply_ok()
    here = {"host": "127.0.0.1", "port": port, "name": "nap", "systemIdentifier": ident}
    check(clients_db(site) == {"sandbox-service": here, "browser-service": here}, "status: %r" % clients_db(site))

    # Only DATABASE_URL changes (in the environment): both clients go to the new database.
    r = agent.run("plan", *site.args(), env=env2)
    line = ('database: "nap" at 127.0.0.1:%s (system identifier %s) → "nap2" at 127.0.0.1:%s (registered in the '
            'new database)' % (port, ident, port))
    check(r.rc == 2 and r.out.count(line) == 2, "plan with the new DATABASE_URL: want %r twice, got %r" % (line, r))
    r = agent.run("apply", *site.args(), env=env2)
    check(r.rc == 0, "apply with the new DATABASE_URL: %r" % r)
    want = {"sandbox-service": [uri(30086)], "browser-service": [uri(30085)]}
    check(rows_in(PGDATABASE="nap2") == want, "rows in nap2: %r" % rows_in(PGDATABASE="nap2"))
    there = dict(here, name="nap2")
    check(clients_db(site) == {"sandbox-service": there, "browser-service": there}, "status: %r" % clients_db(site))
    text = agent.run_ok("status", "--state-dir", site.state).out
    where = 'in database "nap2" at 127.0.0.1:%s (system identifier %s)' % (port, ident)
    check(text.count(where) == 2, "status does not say %r for both clients:\n%s" % (where, text))
    r = agent.run("plan", *site.args(), env=env2)
    check(r.rc == 0, "plan after the switch: want 0, got %r" % r)

    # Back, through values.env's DATABASE_URL (none in the environment).
    env3 = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    site.vals["DATABASE_URL"] = url1
    site.write()
    r = agent.run("apply", *site.args(), env=env3)
    check(r.rc == 0, "apply with values.env's DATABASE_URL: %r" % r)
    check(clients_db(site) == {"sandbox-service": here, "browser-service": here}, "status: %r" % clients_db(site))
    site.vals["DATABASE_URL"] = None
    site.write()


def case_unrecorded_database():
    """A ledger written before the database was recorded (an upgrade): the
    plan has nothing to compare, and the next write records it for every
    enabled client, the others' rows left as they are."""
    site = Site("unrecorded", module_values("unrecorded"))
    psql("DELETE FROM oauth_clients")
    site.apply_ok()
    path = os.path.join(site.state, "ledger.json")
    with open(path) as f:
        ledger = json.load(f)
    for c in ledger["clients"]:
        del c["database"]
    with open(path, "w") as f:
        json.dump(ledger, f)
    check(clients_db(site) == {"sandbox-service": None, "browser-service": None}, "status: %r" % clients_db(site))
    r = agent.run_ok("status", "--state-dir", site.state)
    check(r.out.count("in a database not recorded") == 2, "status of an unrecorded database:\n%s" % r.out)
    check(site.plan().rc == 0, "plan of a ledger without databases sees changes")
    before = rows()
    site.vals["SANDBOX_NODE_PORT"] = "30098"
    site.write()
    site.apply_ok()
    here = {"host": "127.0.0.1", "port": env("PGPORT"), "name": "nap", "systemIdentifier": sysid()}
    check(clients_db(site) == {"sandbox-service": here, "browser-service": here}, "status: %r" % clients_db(site))
    check(rows()["browser-service"] == before["browser-service"], "the browser's row was written")


class Forwarder:
    """A TCP forwarder on 127.0.0.1 whose target can be changed: each new
    connection goes to the target of the moment (what a Service whose
    database was replaced looks like to a client)."""

    def __init__(self, target_port):
        self.target = target_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            pipe(c, dial("127.0.0.1", self.target))
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.sock.close()


def start_second_server():
    """A second PostgreSQL (its own system identifier), its role nap given
    the first one's password, with the schema: (dir, port)."""
    # not in the scratch directory (0700): the server runs as user postgres
    d = tempfile.mkdtemp(prefix="naptest-pg2.", dir="/tmp")
    os.chmod(d, 0o755)
    p = subprocess.run([HARNESS_SH, "start", d], capture_output=True, text=True, timeout=180,
                       env=dict(os.environ, HARNESS_COMPONENTS="pg"))
    check(p.returncode == 0, "starting a second PostgreSQL failed: %s" % p.stderr)
    with open(os.path.join(d, "env")) as f:
        port = re.search(r"(?m)^PGPORT=(\d+)$", f.read()).group(1)
    superuser("ALTER ROLE nap PASSWORD '%s'" % env("PGPASSWORD"), d, port)
    seed_schema(PGPORT=port)
    return d, port


def case_other_server():
    d, port2 = start_second_server()
    fwd = Forwarder(int(env("PGPORT")))
    try:
        other_server(fwd, port2)
    finally:
        fwd.stop()
        p = subprocess.run([HARNESS_SH, "stop", d], capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "stopping the second PostgreSQL failed: %s" % p.stderr)


def other_server(fwd, port2):
    url = "postgresql://nap:%s@127.0.0.1:%d/nap" % (env("PGPASSWORD"), fwd.port)
    envf = dict(os.environ, DATABASE_URL=url)
    id1, id2 = sysid(), sysid(PGPORT=port2)
    check(id1 != id2, "the two servers have the same system identifier")
    site = Site("other-server", module_values("other-server"))
    psql("DELETE FROM oauth_clients")
    r = agent.run("apply", *site.args(), env=envf)
    check(r.rc == 0, "apply through the forwarder: %r" % r)
    first = {"host": "127.0.0.1", "port": str(fwd.port), "name": "nap", "systemIdentifier": id1}
    check(clients_db(site) == {"sandbox-service": first, "browser-service": first}, "status: %r" % clients_db(site))

    # The same address now reaches the second server; only the sandbox's URI changes.
    fwd.target = int(port2)
    site.vals["SANDBOX_NODE_PORT"] = "30097"
    site.write()
    r = agent.run("plan", "--live", *site.args(), env=envf)
    line = ('database: "nap" at 127.0.0.1:%d (system identifier %s) → "nap" at 127.0.0.1:%d (system identifier %s) '
            '(registered in the new database)' % (fwd.port, id1, fwd.port, id2))
    check(r.rc == 2 and r.out.count(line) == 2 and '+ register oauth client "browser-service"' in r.out,
          "plan --live against the other server: want %r twice, got %r" % (line, r))
    r = agent.run("apply", *site.args(), env=envf)
    check(r.rc == 0, "apply on the other server: %r" % r)
    said = ('registering oauth client "browser-service" in database "nap" at 127.0.0.1:%d (system identifier %s): it '
            'was registered in "nap" at 127.0.0.1:%d (system identifier %s)' % (fwd.port, id2, fwd.port, id1))
    check(said in r.err, "apply does not say it registers browser-service there: %r" % r)
    want = {"sandbox-service": [uri(30097)], "browser-service": [uri(30085)]}
    check(rows_in(PGPORT=port2) == want, "rows on the second server: %r" % rows_in(PGPORT=port2))
    second = dict(first, systemIdentifier=id2)
    check(clients_db(site) == {"sandbox-service": second, "browser-service": second}, "status: %r" % clients_db(site))
    r = agent.run("plan", "--live", *site.args(), env=envf)
    check(r.rc == 0, "plan --live after: want 0, got %r" % r)


def main():
    init(sys.argv)
    run = Results("reconcile-clients")
    ensure_namespace("nap")
    run.case("an admin's redirect URI is kept, shown by plan --live, through resyncs and edits", case_admin_uri)
    run.case("a DATABASE_URL switch registers both clients in the new database; status says where",
             case_database_url_switch)
    run.case("a ledger without databases records them at the next write", case_unrecorded_database)
    run.case("another server behind the same address: every client registered there in the same pass",
             case_other_server)
    return run.finish([env("PGPASSWORD")])


if __name__ == "__main__":
    sys.exit(main())
