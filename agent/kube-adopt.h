/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Adoption, the pure half: from an object as the server returned it, the
 * merge patch of metadata.managedFields that makes nap-agent the sole Apply
 * owner of the fields install.sh's kubectl owned (server- or client-side
 * apply, create, edit...), in the way of client-go's csaupgrade, and drops
 * the last-applied annotation. kube.c sends it, guarded by the
 * resourceVersion it read. Fields of controllers stay theirs.
 */
#pragma once

#include <cjson/cJSON.h>

#define KUBE_FIELD_MANAGER "nap-agent"
#define KUBE_LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* *ret: the patch (caller frees), or NULL when nothing is to be taken over.
 * Returns 0 or -ENOMEM. */
int kube_adopt_patch(const cJSON *live, const char *api_version, cJSON **ret);
