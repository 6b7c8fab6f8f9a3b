/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the template stage: the secret digest of a pod template (see
 * template.h for what it is and the public functions around it).
 */
#pragma once

#include "template.h"

/* When o is a pod template that consumes rendered Secrets: sets
 * o->secret_digest_input (the "secret/key=base64\n" lines, sorted,
 * distinct) and gives the pod template the annotation with
 * SECRET_DIGEST_PENDING. s holds the rendered Secrets. */
int template_digest_annotate(DesiredObject *o, const DesiredSet *s);
