/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base64 (RFC 4648, the standard alphabet, with '=' padding), once for the
 * agent, on OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock: Secret data in the
 * templates, the kubeconfig's *-data fields and the digest key, and the
 * forms of a secret that redaction looks for. Every buffer that held the
 * input or the output is zeroed before it is freed: both may be secrets.
 */
#pragma once

#include <stddef.h>

/* The encoding of the n bytes at p, NUL-terminated, malloc'd; NULL when out
 * of memory. */
char *base64_encode(const void *p, size_t n);

/* Decodes in, ignoring whitespace anywhere. Strict otherwise: only the
 * alphabet, a length that is a multiple of 4, at most two '=' and only at
 * the end, something to decode. *ret gets a malloc'd buffer of *ret_size
 * bytes (one more, a NUL, is written after them) only on success. -EINVAL
 * when in is not such a text, -ENOMEM. */
int base64_decode(const char *in, unsigned char **ret, size_t *ret_size);
