/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes ledger_parse(), the content of ledger.json: no input may crash it,
 * leak, or break its contract: success gives objects and clients with their
 * identities set, each found again by its identity; failure is -EBADMSG,
 * -EPROTONOSUPPORT or -ENOMEM.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Ledger *l = calloc(1, sizeof *l);
        char *text = malloc(size + 1);
        int r;

        if (!l || !text || size > 1024 * 1024) {
                free(l);
                free(text);
                return 0;
        }
        memcpy(text, data, size);
        text[size] = 0;
        r = ledger_parse(l, text);
        if (r >= 0) {
                for (size_t i = 0; i < l->n_objects; i++) {
                        const LedgerObject *o = &l->objects[i];
                        CHECK(o->api_version && o->kind && o->name && o->module);
                        CHECK(ledger_find_object(l, o->kind, o->namespace, o->name));
                }
                for (size_t i = 0; i < l->n_clients; i++) {
                        CHECK(l->clients[i].id && l->clients[i].module);
                        CHECK(ledger_find_client(l, l->clients[i].id));
                }
        } else
                CHECK(r == -EBADMSG || r == -EPROTONOSUPPORT || r == -ENOMEM);
        ledger_free(l);
        free(text);
        return 0;
}
