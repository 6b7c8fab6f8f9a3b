/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes a JSON value as block-style YAML (what `render --format yaml`
 * prints). Strings are always double-quoted with JSON escapes, which YAML
 * reads back unchanged, so no value can turn into a different type.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdio.h>

void yaml_write(FILE *f, const cJSON *j);
