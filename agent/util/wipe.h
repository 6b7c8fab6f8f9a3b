/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocator functions that zero a block before it is freed or moved, for the
 * libraries that let us give them their allocator and that handle secrets
 * (cJSON: rendered Secret bodies, request and response bodies; libcurl: its
 * request buffers, which hold the bearer token and the bodies). They sit on
 * malloc(3) and size a block with malloc_usable_size(3).
 */
#pragma once

#include <stddef.h>

void *wipe_malloc(size_t n);
void wipe_free(void *p);
void *wipe_realloc(void *p, size_t n);
void *wipe_calloc(size_t n, size_t size);
char *wipe_strdup(const char *s);

/* Makes cJSON allocate with these (call before any cJSON allocation). */
void wipe_json_allocations(void);
