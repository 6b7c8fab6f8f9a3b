/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the plan: what plan.c calls in its other files.
 */
#pragma once

#include "plan.h"

/* Fills p's platform keys from c, each flagged when its keyed digest
 * differs from what l recorded (plan-platform.c). */
int plan_platform_keys_compute(Plan *p, const Config *c, const Ledger *l);
void plan_platform_keys_free(Plan *p);
