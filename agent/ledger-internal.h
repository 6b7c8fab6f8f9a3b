/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the ledger (not for its callers): what ledger.c asks of
 * ledger-json.c (the file's format) and of ledger-client.c, which keeps a
 * client's owned redirect URIs and its database, in memory and in
 * ledger.json.
 */
#pragma once

#include <cjson/cJSON.h>

#include "ledger.h"

/* Reads "ownedRedirectUris" and "database" of a client's JSON entry o into
 * c (recorded from o a moment ago); without them, c owns its redirectUri
 * and its database is not known. -EBADMSG when they are malformed. */
int ledger_client_parse_extra(LedgerClient *c, const cJSON *o);
/* Writes them into e. */
int ledger_client_add_extra(cJSON *e, const LedgerClient *c);
/* Frees them. */
void ledger_client_extra_free(LedgerClient *c);
/* c owns uri alone (NULL: nothing). */
int ledger_client_own_only(LedgerClient *c, const char *uri);

/* Reads text into l, which is empty. -EBADMSG when it is not a ledger,
 * -EPROTONOSUPPORT when a newer agent wrote it, -ENOMEM. */
int ledger_json_parse(Ledger *l, const char *text);
/* l as ledger.json's JSON; NULL without memory. */
cJSON *ledger_json_format(const Ledger *l);
/* Free what an entry holds (not the entry). */
void ledger_object_done(LedgerObject *o);
void ledger_client_done(LedgerClient *c);
