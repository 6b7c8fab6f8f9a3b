/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "kube-internal.h"
#include "util/json.h"

#define FIELD_MANAGER KUBE_FIELD_MANAGER

/* The one entry an adoption takes over: install.sh's `kubectl apply
 * --server-side`. Update managers (kubectl-label, kubectl-edit,
 * kubectl-patch, kubectl-set, controllers) keep their fields: they are what
 * an operator or a controller changed on purpose. */
static bool entry_transferable(const char *manager, const char *operation) {
        return manager && operation && streq(manager, "kubectl") && streq(operation, "Apply");
}

static bool entry_is_ours(const char *manager, const char *operation) {
        return manager && operation && streq(manager, FIELD_MANAGER) && streq(operation, "Apply");
}

/* Union of two FieldsV1 trees (objects of "f:", "k:", "v:", "i:" and "."). */
static int fields_merge(cJSON *dst, const cJSON *src) {
        const cJSON *i;

        cJSON_ArrayForEach(i, src) {
                cJSON *d = cJSON_GetObjectItemCaseSensitive(dst, i->string);
                if (!d) {
                        cJSON *copy = cJSON_Duplicate(i, true);
                        if (!copy || !cJSON_AddItemToObject(dst, i->string, copy)) {
                                cJSON_Delete(copy);
                                return -ENOMEM;
                        }
                } else if (cJSON_IsObject(d) && cJSON_IsObject(i)) {
                        int r = fields_merge(d, i);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int kube_adopt_patch(const cJSON *live, const char *api_version, cJSON **ret) {
        const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(live, "metadata");
        const cJSON *rv = cJSON_GetObjectItemCaseSensitive(metadata, "resourceVersion"), *e;
        _cleanup_(cJSON_Deletep) cJSON *patch = NULL;
        cJSON *m, *fields, *mf, *entry;
        unsigned foreign = 0;
        int r;

        /* nap-agent applied it before (the ledger was lost): nothing to adopt. */
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(metadata, "managedFields"))
                if (entry_is_ours(json_string(e, "manager"), json_string(e, "operation"))) {
                        *ret = NULL;
                        return 0;
                }

        if (!(patch = cJSON_CreateObject()) || !(m = cJSON_AddObjectToObject(patch, "metadata")) ||
            !cJSON_AddStringToObject(m, "resourceVersion", cJSON_IsString(rv) ? rv->valuestring : "") ||
            !(mf = cJSON_AddArrayToObject(m, "managedFields")) || !(fields = cJSON_CreateObject()))
                return -ENOMEM;
        entry = cJSON_CreateObject();
        if (!entry || !cJSON_AddItemToObject(entry, "fieldsV1", fields)) {
                cJSON_Delete(fields);
                cJSON_Delete(entry);
                return -ENOMEM;
        }
        cJSON_AddItemToArray(mf, entry);

        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(metadata, "managedFields")) {
                if (!entry_transferable(json_string(e, "manager"), json_string(e, "operation"))) {
                        cJSON *copy = cJSON_Duplicate(e, true);
                        if (!copy || !cJSON_AddItemToArray(mf, copy)) {
                                cJSON_Delete(copy);
                                return -ENOMEM;
                        }
                        continue;
                }
                foreign++;
                r = fields_merge(fields, cJSON_GetObjectItemCaseSensitive(e, "fieldsV1"));
                if (r < 0)
                        return r;
        }
        if (foreign == 0) {
                *ret = NULL;
                return 0;
        }

        if (!cJSON_AddStringToObject(entry, "manager", FIELD_MANAGER) ||
            !cJSON_AddStringToObject(entry, "operation", "Apply") ||
            !cJSON_AddStringToObject(entry, "apiVersion", api_version) ||
            !cJSON_AddStringToObject(entry, "fieldsType", "FieldsV1"))
                return -ENOMEM;
        *ret = TAKE_PTR(patch);
        return 0;
}

/* Whether the element of list `have` that the FieldsV1 key "k:{...}" names
 * is there: every member of the key equal. */
static const cJSON *list_find_keyed(const cJSON *list, const char *key_json) {
        _cleanup_(cJSON_Deletep) cJSON *key = cJSON_Parse(key_json);
        const cJSON *e, *k;

        if (!cJSON_IsObject(key) || !cJSON_IsArray(list))
                return NULL;
        cJSON_ArrayForEach(e, list) {
                bool all = true;
                cJSON_ArrayForEach(k, key)
                        if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(e, k->string), k, true))
                                all = false;
                if (all)
                        return e;
        }
        return NULL;
}

static bool list_has_value(const cJSON *list, const char *value_json) {
        _cleanup_(cJSON_Deletep) cJSON *v = cJSON_Parse(value_json);
        const cJSON *e;

        cJSON_ArrayForEach(e, list)
                if (v && cJSON_Compare(e, v, true))
                        return true;
        return false;
}

/* Whether the FieldsV1 tree `fields` names a field that `want` does not set. */
static bool fields_beyond(const cJSON *fields, const cJSON *want) {
        const cJSON *f;

        cJSON_ArrayForEach(f, fields) {
                const char *k = f->string;
                const cJSON *sub;

                if (streq(k, ".") || strneq(k, "i:", 2))
                        continue;
                if (strneq(k, "f:", 2))
                        sub = cJSON_IsObject(want) ? cJSON_GetObjectItemCaseSensitive(want, k + 2) : NULL;
                else if (strneq(k, "k:", 2))
                        sub = list_find_keyed(want, k + 2);
                else if (strneq(k, "v:", 2)) {
                        if (!cJSON_IsArray(want) || !list_has_value(want, k + 2))
                                return true;
                        continue;
                } else
                        continue;
                if (!sub || (cJSON_IsObject(f) && f->child && fields_beyond(f, sub)))
                        return true;
        }
        return false;
}

bool kube_owned_beyond(const cJSON *live, const cJSON *want) {
        const cJSON *e;

        cJSON_ArrayForEach(e, JSON_GET(live, "metadata", "managedFields"))
                if (entry_is_ours(json_string(e, "manager"), json_string(e, "operation")))
                        return fields_beyond(cJSON_GetObjectItemCaseSensitive(e, "fieldsV1"), want);
        return false;
}
