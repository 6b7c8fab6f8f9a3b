/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Adoption, the pure half: which fields of an object as the server
 * returned it were set by the platform's install.sh, and the merge patch of
 * metadata.managedFields that hands them to nap-agent's Apply entry.
 *
 * install.sh sets them two ways: `kubectl apply --server-side` (manager
 * kubectl, operation Apply): every field of that entry; and, on coturn and
 * the image warmer, `kubectl patch` of the pod template's nodeSelector,
 * tolerations and imagePullSecrets (manager kubectl-patch, an Update): only
 * those, and only when the caller asks (KUBE_APPLY_TAKE_PATCHED). Every
 * other field of every other manager (kubectl-label, kubectl-edit, the rest
 * of a kubectl-patch, controllers) stays theirs. kube.c sends the patch,
 * guarded by the resourceVersion it read: before the first apply of an
 * object (KUBE_APPLY_ADOPT), and again when install.sh re-ran since and
 * left a field that the agent's apply would otherwise leave behind
 * (KUBE_APPLY_RECLAIM).
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "kube.h"

/* *ret: the patch (caller frees), or NULL when install.sh's managers own
 * nothing to take over. Their fields join nap-agent's Apply entry when it
 * has one (install.sh re-ran after the agent), else a new one. flags:
 * KUBE_APPLY_TAKE_PATCHED or 0. Returns 0 or -ENOMEM. */
int kube_adopt_patch(const cJSON *live, const char *api_version, unsigned flags, cJSON **ret);

/* How many fields of obj an adoption followed by an apply of want removes:
 * there, owned by install.sh's managers (as kube_adopt_patch() takes them),
 * not set by want, and owned by no manager but those and nap-agent; or
 * -ENOMEM. With drop, they are removed from obj (for `plan --live`, whose
 * dry run cannot take fields over first); without, obj is only read. */
int kube_adopt_leftovers(cJSON *obj, const cJSON *want, unsigned flags, bool drop);

/* Whether nap-agent's Apply entry in live's managedFields owns a field that
 * want does not set (a field an earlier apply set, which the next apply of
 * want would remove). */
bool kube_owned_beyond(const cJSON *live, const cJSON *want);
