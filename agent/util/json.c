/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <string.h>

#include "util/json.h"

const cJSON *json_get_path(const cJSON *o, const char *const *keys) {
        assert(keys);

        for (; o && *keys; keys++)
                o = cJSON_GetObjectItemCaseSensitive(o, *keys);
        return o;
}

static bool array_of_scalars(const cJSON *a) {
        const cJSON *i;

        cJSON_ArrayForEach(i, a)
                if (cJSON_IsObject(i) || cJSON_IsArray(i))
                        return false;
        return true;
}

bool json_covers(const cJSON *have, const cJSON *want) {
        const cJSON *w, *h;

        if (!have || !want)
                return have == want;
        if (cJSON_IsObject(want)) {
                if (!cJSON_IsObject(have))
                        return false;
                cJSON_ArrayForEach(w, want)
                        if (!json_covers(cJSON_GetObjectItemCaseSensitive(have, w->string), w))
                                return false;
                return true;
        }
        if (cJSON_IsArray(want)) {
                if (!cJSON_IsArray(have))
                        return false;
                if (array_of_scalars(want))
                        return cJSON_Compare(have, want, true);
                cJSON_ArrayForEach(w, want) {
                        bool found = false;
                        cJSON_ArrayForEach(h, have)
                                if (json_covers(h, w)) {
                                        found = true;
                                        break;
                                }
                        if (!found)
                                return false;
                }
                return true;
        }
        return cJSON_Compare(have, want, true);
}

static void json_wipe(cJSON *j) {
        for (cJSON *c = j; c; c = c->next) {
                if (c->valuestring)
                        explicit_bzero(c->valuestring, strlen(c->valuestring));
                if (c->child)
                        json_wipe(c->child);
        }
}

void json_delete_wiped(cJSON *j) {
        if (!j)
                return;
        json_wipe(j->child);
        if (j->valuestring)
                explicit_bzero(j->valuestring, strlen(j->valuestring));
        cJSON_Delete(j);
}

static bool has_name(const cJSON *list, const char *name) {
        const cJSON *e;

        cJSON_ArrayForEach(e, list) {
                const char *n = json_string(e, "name");
                if (n && streq(n, name))
                        return true;
        }
        return false;
}

cJSON *json_missing_by_name(const cJSON *want, const cJSON *have) {
        cJSON *missing = cJSON_CreateArray();
        const cJSON *e;

        if (!missing)
                return NULL;
        cJSON_ArrayForEach(e, want) {
                const char *n = json_string(e, "name");
                cJSON *copy;

                if (!n || has_name(have, n))
                        continue;
                copy = cJSON_Duplicate(e, true);
                if (!copy || !cJSON_AddItemToArray(missing, copy)) {
                        cJSON_Delete(copy);
                        cJSON_Delete(missing);
                        return NULL;
                }
        }
        return missing;
}
