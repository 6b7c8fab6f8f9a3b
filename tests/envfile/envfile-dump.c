/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only: parses a values.env with envfile_load() and prints
 * {"file": {KEY: value, ...}} (the last assignment of every key), the shape of
 * `nap-agent vars --json --show-secrets`'s "file" object, for diff-bash.sh.
 * Diagnostics go to stderr; exit status 1 on a parse error.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "envfile.h"

static int dump(const EnvFile *f) {
        cJSON *root = cJSON_CreateObject(), *map = cJSON_AddObjectToObject(root, "file");
        char *s;

        if (!map)
                return -ENOMEM;
        for (size_t i = 0; i < f->n_entries; i++) {
                const EnvEntry *e = &f->entries[i];
                cJSON *v = cJSON_CreateString(envfile_value(f, e->key));

                if (!v)
                        return -ENOMEM;
                if (cJSON_GetObjectItemCaseSensitive(map, e->key))
                        cJSON_ReplaceItemInObjectCaseSensitive(map, e->key, v);
                else
                        cJSON_AddItemToObject(map, e->key, v);
        }
        s = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        if (!s)
                return -ENOMEM;
        puts(s);
        cJSON_free(s);
        return 0;
}

int main(int argc, char **argv) {
        _cleanup_(envfile_freep) EnvFile *f = NULL;
        DiagList diags = { 0 };
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: %s FILE\n", argv[0]);
                return 2;
        }
        r = envfile_load(argv[1], &f, &diags);
        for (size_t i = 0; i < diags.n; i++)
                diag_print(&diags.items[i], stderr);
        diag_list_clear(&diags);
        if (r < 0) {
                if (r != -EINVAL)
                        fprintf(stderr, "%s: %s\n", argv[1], strerror(-r));
                return 1;
        }
        return dump(f) < 0 ? 1 : 0;
}
