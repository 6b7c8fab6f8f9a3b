/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "kube-internal.h"
#include "util/json.h"

#define FIELD_MANAGER KUBE_FIELD_MANAGER

/* What install.sh sets with `kubectl patch` after applying coturn and the
 * warmer: the pod's placement. */
static const char *const patched_fields[] = { "f:nodeSelector", "f:tolerations", "f:imagePullSecrets" };

static bool entry_is(const cJSON *e, const char *manager, const char *operation) {
        const char *m = json_string(e, "manager"), *o = json_string(e, "operation");

        return m && o && streq(m, manager) && streq(o, operation);
}

static bool entry_is_ours(const cJSON *e) {
        return entry_is(e, FIELD_MANAGER, "Apply");
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

/* Moves the placement fields of a kubectl-patch entry's tree (rest) into a
 * new tree of the same shape (*ret, NULL when there are none); rest loses
 * the levels they leave empty. */
static int take_patched(cJSON *rest, cJSON **ret) {
        cJSON *spec = cJSON_GetObjectItemCaseSensitive(rest, "f:spec");
        cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(spec, "f:template");
        cJSON *pod = cJSON_GetObjectItemCaseSensitive(tmpl, "f:spec"), *to = NULL;
        _cleanup_(cJSON_Deletep) cJSON *taken = NULL;

        *ret = NULL;
        for (size_t i = 0; pod && i < ELEMENTSOF(patched_fields); i++) {
                cJSON *f = cJSON_DetachItemFromObjectCaseSensitive(pod, patched_fields[i]);
                if (!f)
                        continue;
                if (!taken && (!(taken = cJSON_CreateObject()) ||
                               !(to = cJSON_AddObjectToObject(cJSON_AddObjectToObject(
                                       cJSON_AddObjectToObject(taken, "f:spec"), "f:template"), "f:spec")))) {
                        cJSON_Delete(f);
                        return -ENOMEM;
                }
                if (!cJSON_AddItemToObject(to, patched_fields[i], f)) {
                        cJSON_Delete(f);
                        return -ENOMEM;
                }
        }
        if (!taken)
                return 0;
        if (!pod->child)
                cJSON_DeleteItemFromObjectCaseSensitive(tmpl, "f:spec");
        if (!tmpl->child)
                cJSON_DeleteItemFromObjectCaseSensitive(spec, "f:template");
        if (!spec->child)
                cJSON_DeleteItemFromObjectCaseSensitive(rest, "f:spec");
        *ret = TAKE_PTR(taken);
        return 0;
}

/* Splits managedFields entry e into the fields an adoption takes from it
 * (*ret_taken) and those that stay its manager's (*ret_rest); each NULL
 * when there are none. */
static int entry_split(const cJSON *e, unsigned flags, cJSON **ret_taken, cJSON **ret_rest) {
        const cJSON *fields = cJSON_GetObjectItemCaseSensitive(e, "fieldsV1");
        _cleanup_(cJSON_Deletep) cJSON *rest = NULL, *taken = NULL;
        int r;

        *ret_taken = *ret_rest = NULL;
        if (!cJSON_IsObject(fields))
                return 0;
        rest = cJSON_Duplicate(fields, true);
        if (!rest)
                return -ENOMEM;
        if (entry_is(e, "kubectl", "Apply"))
                taken = TAKE_PTR(rest);
        else if ((flags & KUBE_APPLY_TAKE_PATCHED) && entry_is(e, "kubectl-patch", "Update")) {
                r = take_patched(rest, &taken);
                if (r < 0)
                        return r;
        }
        *ret_taken = TAKE_PTR(taken);
        if (rest && rest->child)
                *ret_rest = TAKE_PTR(rest);
        return 0;
}

static const cJSON *managed_fields(const cJSON *obj) {
        return JSON_GET(obj, "metadata", "managedFields");
}

/* entry e with fields in place of its fieldsV1 (taken over). */
static cJSON *entry_with(const cJSON *e, cJSON *fields) {
        cJSON *copy = cJSON_Duplicate(e, true);

        if (!copy || !cJSON_ReplaceItemInObjectCaseSensitive(copy, "fieldsV1", fields)) {
                cJSON_Delete(copy);
                cJSON_Delete(fields);
                return NULL;
        }
        return copy;
}

/* nap-agent's Apply entry holding fields (taken over): ours with them, or a new one. */
static cJSON *our_entry(const cJSON *ours, cJSON *fields, const char *api_version) {
        cJSON *entry;

        if (ours)
                return entry_with(ours, fields);
        entry = cJSON_CreateObject();
        if (!entry || !cJSON_AddItemToObject(entry, "fieldsV1", fields)) {
                cJSON_Delete(fields);
                cJSON_Delete(entry);
                return NULL;
        }
        if (!cJSON_AddStringToObject(entry, "manager", FIELD_MANAGER) ||
            !cJSON_AddStringToObject(entry, "operation", "Apply") ||
            !cJSON_AddStringToObject(entry, "apiVersion", api_version) ||
            !cJSON_AddStringToObject(entry, "fieldsType", "FieldsV1")) {
                cJSON_Delete(entry);
                return NULL;
        }
        return entry;
}

/* Adds to mf what stays of entry e (all of it, the rest of it, or nothing),
 * and merges what is taken from it into fields; *taken counts the entries
 * that gave something. */
static int split_into(cJSON *mf, cJSON *fields, const cJSON *e, unsigned flags, unsigned *taken) {
        _cleanup_(cJSON_Deletep) cJSON *t = NULL, *rest = NULL;
        cJSON *copy;
        int r;

        r = entry_split(e, flags, &t, &rest);
        if (r < 0)
                return r;
        if (t) {
                (*taken)++;
                r = fields_merge(fields, t);
                if (r < 0)
                        return r;
        }
        if (t && !rest)
                return 0; /* wholly taken over: the entry goes */
        copy = t ? entry_with(e, TAKE_PTR(rest)) : cJSON_Duplicate(e, true);
        if (!copy || !cJSON_AddItemToArray(mf, copy)) {
                cJSON_Delete(copy);
                return -ENOMEM;
        }
        return 0;
}

int kube_adopt_patch(const cJSON *live, const char *api_version, unsigned flags, cJSON **ret) {
        const cJSON *rv, *e, *ours = NULL;
        _cleanup_(cJSON_Deletep) cJSON *patch = NULL, *fields = NULL;
        cJSON *m, *mf, *entry;
        unsigned taken = 0;
        int r;

        assert(live);
        assert(api_version);
        assert(ret);

        rv = JSON_GET(live, "metadata", "resourceVersion");
        *ret = NULL;
        cJSON_ArrayForEach(e, managed_fields(live))
                if (entry_is_ours(e))
                        ours = e;
        fields = ours && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(ours, "fieldsV1"))
                         ? cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(ours, "fieldsV1"), true)
                         : cJSON_CreateObject();
        if (!fields || !(patch = cJSON_CreateObject()) || !(m = cJSON_AddObjectToObject(patch, "metadata")) ||
            !cJSON_AddStringToObject(m, "resourceVersion", cJSON_IsString(rv) ? rv->valuestring : "") ||
            !(mf = cJSON_AddArrayToObject(m, "managedFields")))
                return -ENOMEM;
        cJSON_ArrayForEach(e, managed_fields(live))
                if (e != ours && (r = split_into(mf, fields, e, flags, &taken)) < 0)
                        return r;
        if (taken == 0)
                return 0;
        entry = our_entry(ours, TAKE_PTR(fields), api_version);
        if (!entry || !cJSON_InsertItemInArray(mf, 0, entry)) {
                cJSON_Delete(entry);
                return -ENOMEM;
        }
        *ret = TAKE_PTR(patch);
        return 0;
}

/* The element of list that the FieldsV1 key "k:{...}" names (every member
 * of the key equal), or NULL. */
static cJSON *list_find_keyed(const cJSON *list, const char *key_json) {
        _cleanup_(cJSON_Deletep) cJSON *key = cJSON_Parse(key_json);
        cJSON *e;
        const cJSON *k;

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

/* The element of list equal to the FieldsV1 value "v:..." names, or NULL. */
static cJSON *list_find_value(const cJSON *list, const char *value_json) {
        _cleanup_(cJSON_Deletep) cJSON *v = cJSON_Parse(value_json);
        cJSON *e;

        if (!v || !cJSON_IsArray(list))
                return NULL;
        cJSON_ArrayForEach(e, list)
                if (cJSON_Compare(e, v, true))
                        return e;
        return NULL;
}

/* The member of node that the FieldsV1 key k names, or NULL. */
static cJSON *fields_member(const cJSON *node, const char *k) {
        if (strneq(k, "f:", 2))
                return cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, k + 2) : NULL;
        if (strneq(k, "k:", 2))
                return list_find_keyed(node, k + 2);
        if (strneq(k, "v:", 2))
                return list_find_value(node, k + 2);
        return NULL; /* ".", "i:": the node itself, an index */
}

/* Counts (with drop: removes) the fields that the tree `taken` names, obj
 * has, want does not set and the tree `others` does not name. obj, want and
 * others are at the same place of their trees; want and others may be NULL.
 * obj is written only with drop. */
static unsigned leftovers(const cJSON *taken, const cJSON *others, cJSON *obj, const cJSON *want, bool drop) {
        const cJSON *f;
        unsigned n = 0;

        cJSON_ArrayForEach(f, taken) {
                cJSON *o = fields_member(obj, f->string);
                const cJSON *w = fields_member(want, f->string);
                const cJSON *oth = cJSON_GetObjectItemCaseSensitive(others, f->string);

                if (!o)
                        continue;
                if (w || oth) {
                        /* desired, or someone else's too: only what below it is neither */
                        n += leftovers(f, oth, o, w, drop);
                        continue;
                }
                n++;
                if (drop)
                        cJSON_Delete(cJSON_DetachItemViaPointer(obj, o));
        }
        return n;
}

int kube_adopt_leftovers(cJSON *obj, const cJSON *want, unsigned flags, bool drop) {
        _cleanup_(cJSON_Deletep) cJSON *taken = cJSON_CreateObject(), *others = cJSON_CreateObject();
        const cJSON *e;
        int r;

        assert(obj);
        assert(want);

        if (!taken || !others)
                return -ENOMEM;
        cJSON_ArrayForEach(e, managed_fields(obj)) {
                _cleanup_(cJSON_Deletep) cJSON *t = NULL, *rest = NULL;

                if (entry_is_ours(e))
                        continue;
                r = entry_split(e, flags, &t, &rest);
                if (r >= 0 && t)
                        r = fields_merge(taken, t);
                if (r >= 0 && rest)
                        r = fields_merge(others, rest);
                if (r < 0)
                        return r;
        }
        return (int) leftovers(taken, others, obj, want, drop);
}

/* Whether the FieldsV1 tree `fields` names a field that `want` does not set. */
static bool fields_beyond(const cJSON *fields, const cJSON *want) {
        const cJSON *f;

        cJSON_ArrayForEach(f, fields) {
                const char *k = f->string;
                const cJSON *sub;

                if (streq(k, ".") || strneq(k, "i:", 2))
                        continue;
                if (strneq(k, "v:", 2)) {
                        if (!list_find_value(want, k + 2))
                                return true;
                        continue;
                }
                if (!strneq(k, "f:", 2) && !strneq(k, "k:", 2))
                        continue;
                sub = fields_member(want, k);
                if (!sub || (cJSON_IsObject(f) && f->child && fields_beyond(f, sub)))
                        return true;
        }
        return false;
}

bool kube_owned_beyond(const cJSON *live, const cJSON *want) {
        const cJSON *e;

        assert(live);
        assert(want);

        cJSON_ArrayForEach(e, managed_fields(live))
                if (entry_is_ours(e))
                        return fields_beyond(cJSON_GetObjectItemCaseSensitive(e, "fieldsV1"), want);
        return false;
}
