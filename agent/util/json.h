/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small cJSON helpers used across the agent.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "util/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete);

/* cJSON_Delete() of a tree that may hold a secret (a Secret's data, a
 * request body): every string is zeroed before it is freed. NULL is a no-op. */
void json_delete_wiped(cJSON *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, json_delete_wiped);

/* The string member key of o (case-sensitive), or NULL when o is not an
 * object, has no such member, or it is not a string. */
static inline const char *json_string(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The member at the path of keys (NULL-terminated), or NULL. */
const cJSON *json_get_path(const cJSON *o, const char *const *keys);
#define JSON_GET(o, ...) json_get_path((o), (const char *const[]) { __VA_ARGS__, NULL })

/* Whether every member of want is in have with the same value: objects
 * member by member, arrays of scalars exactly, other arrays element by
 * element in any order (each element of want covered by one of have), so
 * that what other writers added (a label, an env entry) does not count. */
bool json_covers(const cJSON *have, const cJSON *want);

/* The elements of the array want whose "name" member no element of the
 * array have carries (have may be NULL): a new array, NULL when out of
 * memory. What a list keyed by name lacks of want's entries. */
cJSON *json_missing_by_name(const cJSON *want, const cJSON *have);
