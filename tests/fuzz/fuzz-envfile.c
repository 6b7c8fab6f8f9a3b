/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes envfile_parse(): no input may crash it, leak, or break its
 * contract: success means valid keys and no error diagnostic; failure means
 * -EINVAL with an error that points inside the input (or -ENOMEM).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envfile.h"
#include "fuzz.h"

static bool valid_key(const char *k) {
        if (!k || !*k || (*k >= '0' && *k <= '9'))
                return false;
        for (; *k; k++)
                if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') || *k == '_'))
                        return false;
        return true;
}

/* line:col of a diagnostic names a byte of the input (or its end). */
static bool position_in_input(const uint8_t *data, size_t size, unsigned line, unsigned col) {
        size_t off = 0;

        for (unsigned l = 1; l < line; l++) {
                const uint8_t *nl = memchr(data + off, '\n', size - off);
                if (!nl)
                        return false;
                off = (size_t) (nl - data) + 1;
        }
        return col >= 1 && off + col - 1 <= size;
}

static void check_success(const EnvFile *f, const DiagList *diags, const uint8_t *data, size_t size) {
        CHECK(f);
        CHECK(!diag_has_errors(diags));
        for (size_t i = 0; i < f->n_entries; i++) {
                const EnvEntry *e = &f->entries[i];
                CHECK(valid_key(e->key));
                CHECK(e->value);
                CHECK(position_in_input(data, size, e->line, e->col));
                CHECK(envfile_get(f, e->key));
        }
        for (size_t i = 0; i < diags->n; i++)
                CHECK(position_in_input(data, size, diags->items[i].line, diags->items[i].col));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        DiagList diags = { 0 };
        EnvFile *f = NULL;
        int r;

        r = envfile_parse("fuzz.env", (const char *) data, size, &f, &diags);
        if (r >= 0)
                check_success(f, &diags, data, size);
        else {
                const Diag *d = diag_first_error(&diags);

                CHECK(r == -EINVAL || r == -ENOMEM);
                CHECK(!f);
                if (r == -EINVAL) {
                        CHECK(d && d->message && d->message[0] && d->hint);
                        CHECK(d->line == 0 || position_in_input(data, size, d->line, d->col));
                }
        }
        envfile_free(f);
        diag_list_clear(&diags);
        return 0;
}
