# SPDX-License-Identifier: Apache-2.0
"""The harness's PostgreSQL (psql with its PG* environment): the control
plane's schema as install.sh leaves it, the oauth_clients rows with their
xmin (a row rewritten gets a new one), and a trigger that logs every write
of a row as the database saw it.
"""
import json
import subprocess

from naptest.checks import Failure
from naptest.harness import SCHEMA

SEP = "\x1f"


def psql(sql, sep="|"):
    """psql -At; fields separated by sep. Fails the case on an error."""
    p = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", sep, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise Failure("psql failed: %s: %s" % (sql, p.stderr))
    return p.stdout


def psql_file(path):
    p = subprocess.run(["psql", "-Xq", "-v", "ON_ERROR_STOP=1", "-f", path], capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise Failure("loading %s failed: %s" % (path, p.stderr))


def setup_database():
    """tests/oauth/schema.sql (once) and the users the agent picks the
    oldest admin of (u-admin-old) as the rows' created_by."""
    if not psql("SELECT to_regclass('oauth_clients')").strip():
        psql_file(SCHEMA)
    psql("INSERT INTO users(id, email, role, created_at) VALUES "
         "('u-admin-old', 'old@example.com', 'admin', now() - interval '2 days'), "
         "('u-admin-new', 'new@example.com', 'admin', now()), "
         "('u-user', 'user@example.com', 'user', now() - interval '3 days') ON CONFLICT DO NOTHING")


def new_installation():
    """The oauth_clients rows of earlier sites removed: a site in a namespace
    of its own stands for another installation, which has a control plane
    database of its own. (The agent owns only the redirect URIs it
    registered: another site's URI in a shared row would stay, as an
    admin's does.)"""
    psql("DELETE FROM oauth_clients")


def rows():
    """id -> dict of the oauth_clients row, with xmin."""
    out = {}
    for line in psql("SELECT id, xmin::text, updated_at::text, name, array_to_json(redirect_uris), "
                     "coalesce(secret_hash, '<null>'), created_by FROM oauth_clients ORDER BY id", SEP).splitlines():
        f = line.split(SEP)
        out[f[0]] = {"xmin": f[1], "updated_at": f[2], "name": f[3], "redirect_uris": json.loads(f[4]),
                     "secret_hash": f[5], "created_by": f[6]}
    return out


def redirect_uris(client):
    """The client's redirect_uris, or None without a row."""
    return rows().get(client, {}).get("redirect_uris")


def row_changes(before, after):
    """id -> 'insert' | 'update' | 'delete' for rows that were written."""
    ch = {}
    for i in set(before) | set(after):
        if i not in before:
            ch[i] = "insert"
        elif i not in after:
            ch[i] = "delete"
        elif before[i]["xmin"] != after[i]["xmin"] or before[i]["updated_at"] != after[i]["updated_at"]:
            ch[i] = "update"
    return ch


def oauth_log_setup():
    """A trigger that logs every write of an oauth_clients row."""
    psql("""
        CREATE TABLE IF NOT EXISTS oauth_log (n serial, op text, id text, uris text[]);
        CREATE OR REPLACE FUNCTION oauth_log_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' THEN
            INSERT INTO oauth_log (op, id, uris) VALUES (TG_OP, OLD.id, OLD.redirect_uris);
          ELSE
            INSERT INTO oauth_log (op, id, uris) VALUES (TG_OP, NEW.id, NEW.redirect_uris);
          END IF;
          RETURN NULL;
        END $$;
        DROP TRIGGER IF EXISTS oauth_log_trigger ON oauth_clients;
        CREATE TRIGGER oauth_log_trigger AFTER INSERT OR UPDATE OR DELETE ON oauth_clients
          FOR EACH ROW EXECUTE FUNCTION oauth_log_row();
    """)


def oauth_log_since(n=0):
    """[(n, op, id, 'uri uri...')] of the writes logged after number n."""
    out = psql("SELECT n, op, id, array_to_string(uris, ' ') FROM oauth_log WHERE n > %d ORDER BY n" % n)
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def oauth_log_last():
    return int(psql("SELECT coalesce(max(n), 0) FROM oauth_log").strip())
