/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Base64 (RFC 4648, with padding, no line breaks), as Kubernetes writes a
 * Secret's data and docker writes a registry login's "auth".
 */
#pragma once

#include <stddef.h>

/* A new NUL-terminated string, or NULL when out of memory. The input may be
 * a secret: the caller wipes the result when it is one. */
char *base64_encode(const void *data, size_t len);
