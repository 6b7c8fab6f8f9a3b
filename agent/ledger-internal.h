/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the ledger (not for its callers): what ledger.c asks of
 * ledger-client.c, which keeps a client's owned redirect URIs and its
 * database, in memory and in ledger.json.
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
