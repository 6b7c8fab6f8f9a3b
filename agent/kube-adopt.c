/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "kube-adopt.h"
#include "util/macro.h"

#define FIELD_MANAGER KUBE_FIELD_MANAGER
#define LAST_APPLIED KUBE_LAST_APPLIED

DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete);

static const char *json_string(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Managers whose fields an adoption takes over: what kubectl (server- or
 * client-side apply, create, edit, patch...) recorded for install.sh, and
 * nap-agent itself. Controllers keep theirs. */
static bool manager_transferable(const char *m) {
        return m && (streq(m, "kubectl") || strneq(m, "kubectl-", 8) || streq(m, "before-first-apply") ||
                     streq(m, FIELD_MANAGER));
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
        const cJSON *annotations = cJSON_GetObjectItemCaseSensitive(metadata, "annotations");
        const cJSON *rv = cJSON_GetObjectItemCaseSensitive(metadata, "resourceVersion"), *e;
        bool last_applied = cJSON_HasObjectItem(annotations, LAST_APPLIED);
        _cleanup_(cJSON_Deletep) cJSON *patch = NULL;
        cJSON *m, *fields, *mf, *entry;
        unsigned foreign = 0;
        int r;

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
                const char *manager = json_string(e, "manager"), *op = json_string(e, "operation");
                if (!manager_transferable(manager)) {
                        cJSON *copy = cJSON_Duplicate(e, true);
                        if (!copy || !cJSON_AddItemToArray(mf, copy)) {
                                cJSON_Delete(copy);
                                return -ENOMEM;
                        }
                        continue;
                }
                if (!streq(manager, FIELD_MANAGER) || !op || !streq(op, "Apply"))
                        foreign++;
                r = fields_merge(fields, cJSON_GetObjectItemCaseSensitive(e, "fieldsV1"));
                if (r < 0)
                        return r;
        }
        if (foreign == 0 && !last_applied) {
                *ret = NULL;
                return 0;
        }

        if (!cJSON_AddStringToObject(entry, "manager", FIELD_MANAGER) ||
            !cJSON_AddStringToObject(entry, "operation", "Apply") ||
            !cJSON_AddStringToObject(entry, "apiVersion", api_version) ||
            !cJSON_AddStringToObject(entry, "fieldsType", "FieldsV1"))
                return -ENOMEM;
        if (last_applied) {
                cJSON *a = cJSON_AddObjectToObject(m, "annotations");
                if (!a || !cJSON_AddNullToObject(a, LAST_APPLIED))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(patch);
        return 0;
}
