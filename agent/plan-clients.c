/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The oauth clients' part of the plan: whether each desired client's row
 * is registered, updated or left as it is, from the ledger or (plan --live)
 * from the row itself. Of a row's redirect_uris nap-agent owns only the
 * URIs it registered (LedgerClient.owned_uris): the current one is added,
 * the ones registered before are taken out, any other is an admin's and
 * stays, which the live plan says. A client the ledger has in another
 * database than the one the rows now go to is registered in the new one.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan-internal.h"
#include "util/strbuf.h"

static void plan_client_digest(const Ledger *l, const DesiredClient *dc, char ret[LEDGER_DIGEST_HEX]) {
        StrBuf b = { 0 };

        /* NUL-separated, so no two different clients serialise alike. */
        strbuf_puts(&b, dc->id);
        strbuf_putc(&b, 0);
        strbuf_puts(&b, dc->name);
        strbuf_putc(&b, 0);
        strbuf_puts(&b, dc->redirect_uri);
        ledger_hmac(l, b.s ? b.s : "", b.len, ret);
        strbuf_free(&b);
}

int plan_action_record_client(Ledger *l, const PlanAction *a, const LedgerDatabase *db) {
        assert(l);
        assert(a);

        if (a->op == PLAN_DELETE) {
                ledger_forget_client(l, a->client_id);
                return 0;
        }
        return ledger_record_client(l, a->client->id, a->module, a->client->name, a->client->redirect_uri,
                                    a->digest, db);
}

static PlanAction *client_action(Plan *p, const DesiredClient *dc, const Ledger *l, PlanOp op) {
        PlanAction *a = plan_action_add(p, op, true, module_to_string(dc->module));

        if (!a || plan_strdup_into(&a->client_id, dc->id) < 0)
                return NULL;
        a->client = dc;
        plan_client_digest(l, dc, a->digest);
        return a;
}

/* The line that says the row goes to another database than the ledger's. A
 * host not known yet is the database Service's address, read at apply time. */
static int add_new_database(PlanAction *a, const Config *c, const LedgerClient *e, const LedgerDatabase *db) {
        _cleanup_free_ char *service = NULL, *from = NULL, *to = NULL;

        if (asprintf(&service, "%s-pg-rw", config_get(c, "APP_PREFIX")) < 0)
                return -ENOMEM;
        from = ledger_database_describe(&e->database, "?");
        to = ledger_database_describe(db, service);
        if (!from || !to)
                return -ENOMEM;
        a->new_database = true;
        return add_change(a, "database: %s → %s (registered in the new database)", from, to);
}

int plan_desired_client(Plan *p, const DesiredClient *dc, const Config *c, const Ledger *l,
                        const LedgerDatabase *db) {
        const LedgerClient *e;
        bool moved;
        char digest[LEDGER_DIGEST_HEX];
        PlanAction *a;

        assert(p);
        assert(dc);
        assert(c);
        assert(l);

        e = ledger_find_client(l, dc->id);
        moved = e && ledger_database_moved(&e->database, db);
        plan_client_digest(l, dc, digest);
        a = client_action(p, dc, l,
                          !e                                   ? PLAN_CREATE
                          : moved || !streq(e->digest, digest) ? PLAN_UPDATE
                                                               : PLAN_UNCHANGED);
        if (!a)
                return -ENOMEM;
        if (a->op != PLAN_UPDATE)
                return 0;
        if (moved && add_new_database(a, c, e, db) < 0)
                return -ENOMEM;
        if (!streq_ptr(e->redirect_uri, dc->redirect_uri) &&
            add_change(a, "redirect_uris: \"%s\" → \"%s\" (any other URI in the row stays)",
                       e->redirect_uri ? e->redirect_uri : "?", dc->redirect_uri) < 0)
                return -ENOMEM;
        if (!streq_ptr(e->name, dc->name) &&
            add_change(a, "name: \"%s\" → \"%s\"", e->name ? e->name : "?", dc->name) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- the live plan ------------------------------------------------------ */

static bool owned(const LedgerClient *e, const char *uri) {
        for (size_t i = 0; e && i < e->n_owned_uris; i++)
                if (streq(e->owned_uris[i], uri))
                        return true;
        return false;
}

/* The row's redirect_uris as the upsert leaves them (SQL_NEW_URIS in
 * oauth.c): the URIs registered before taken out, the current one kept
 * where it is or else appended, every other one kept in its place. */
static int uris_after(const Strv *row, const char *current, const LedgerClient *e, Strv *ret) {
        bool has = false;

        for (size_t i = 0; i < row->n; i++) {
                const char *u = row->items[i];
                has = has || streq(u, current);
                if ((streq(u, current) || !owned(e, u)) && strv_push(ret, strdup(u)) < 0)
                        return -ENOMEM;
        }
        return has ? 0 : strv_push(ret, strdup(current));
}

static bool uris_equal(const Strv *a, const Strv *b) {
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (!streq(a->items[i], b->items[i]))
                        return false;
        return true;
}

/* ["a", "b"] */
static char *uris_text(const Strv *l) {
        StrBuf b = { 0 };

        strbuf_putc(&b, '[');
        for (size_t i = 0; i < l->n; i++)
                strbuf_printf(&b, "%s\"%s\"", i ? ", " : "", l->items[i]);
        strbuf_putc(&b, ']');
        return strbuf_steal(&b);
}

static int add_uris_change(PlanAction *a, const Strv *row, const Strv *after) {
        _cleanup_free_ char *from = uris_text(row), *to = uris_text(after);

        if (!from || !to)
                return -ENOMEM;
        return add_change(a, "redirect_uris: %s → %s", from, to);
}

/* The URIs of the row nap-agent did not register: they stay, and the plan says so. */
static int note_kept_uris(Plan *p, const DesiredClient *dc, const Strv *row, const LedgerClient *e) {
        for (size_t i = 0; i < row->n; i++) {
                const char *u = row->items[i];
                if (streq(u, dc->redirect_uri) || owned(e, u))
                        continue;
                if (add_note(p, "oauth client \"%s\": keeping redirect URI \"%s\", which nap-agent did not register",
                             dc->id, u) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int plan_live_client(Plan *p, const DesiredClient *dc, const Config *c, const Ledger *l, const LedgerDatabase *db,
                     PlanLiveClient fetch, void *userdata) {
        const LedgerClient *e;
        _cleanup_(strv_clear) Strv row = { 0 }, after = { 0 };
        _cleanup_free_ char *name = NULL;
        PlanAction *a;
        int r;

        assert(p);
        assert(dc);
        assert(c);
        assert(l);
        assert(fetch);

        e = ledger_find_client(l, dc->id);
        r = fetch(dc->id, &name, &row, userdata);
        if (r < 0)
                return r;
        a = client_action(p, dc, l, r == 0 ? PLAN_CREATE : PLAN_UNCHANGED);
        if (!a)
                return -ENOMEM;
        if (e && ledger_database_moved(&e->database, db) && add_new_database(a, c, e, db) < 0)
                return -ENOMEM;
        if (r == 0)
                return 0;
        if (uris_after(&row, dc->redirect_uri, e, &after) < 0)
                return -ENOMEM;
        if (!uris_equal(&row, &after) && add_uris_change(a, &row, &after) < 0)
                return -ENOMEM;
        if (!streq_ptr(name, dc->name) && add_change(a, "name: \"%s\" → \"%s\"", name ? name : "", dc->name) < 0)
                return -ENOMEM;
        if (note_kept_uris(p, dc, &row, e) < 0)
                return -ENOMEM;
        if (a->n_changes > 0)
                a->op = PLAN_UPDATE;
        return 0;
}
