/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Adoption, the pure half: from an object as the server returned it, the
 * merge patch of metadata.managedFields that hands the fields install.sh's
 * `kubectl apply --server-side` owned (manager kubectl, operation Apply) to
 * nap-agent's Apply entry. Nothing is taken when nap-agent already has an
 * Apply entry (it applied the object before). kube.c sends it, guarded by
 * the resourceVersion it read. Fields of Update managers (kubectl-label,
 * kubectl-edit, kubectl-patch, controllers) stay theirs.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "kube.h"


/* *ret: the patch (caller frees), or NULL when nothing is to be taken over.
 * Returns 0 or -ENOMEM. */
int kube_adopt_patch(const cJSON *live, const char *api_version, cJSON **ret);

/* Whether nap-agent's Apply entry in live's managedFields owns a field that
 * want does not set (a field an earlier apply set, which the next apply of
 * want would remove). */
bool kube_owned_beyond(const cJSON *live, const cJSON *want);
