/* SPDX-License-Identifier: Apache-2.0 */
/*
 * getaddrinfo(3) that does not block an sd-event loop: the lookup runs on a
 * thread of its own and its answer comes back to the loop through an
 * eventfd. (libsystemd's sd-resolve does the same, but is not part of the
 * library's public API.) A lookup that hangs (a DNS server that never
 * answers) costs a thread until the resolver's own timeouts give up, never
 * the loop: resolve_cancel returns at once and the thread cleans up after
 * itself.
 */
#pragma once

#include <netdb.h>
#include <systemd/sd-event.h>

typedef struct Resolve Resolve;

/* The lookup's answer: gai_error is 0 or an EAI_* code (EAI_SYSTEM: see
 * sys_errno); ai is valid only during the call. q is freed when this
 * returns: forget it there, and do not cancel it. */
typedef void (*ResolveDone)(Resolve *q, int gai_error, int sys_errno, const struct addrinfo *ai,
                            void *userdata);

/* The function that does the lookup, getaddrinfo when NULL; whatever it
 * returns in *res is freed with freeaddrinfo. Tests pass a slow one. */
typedef int (*ResolveLookup)(const char *node, const char *service, const struct addrinfo *hints,
                             struct addrinfo **res);

/* Starts looking up node (and service, may be NULL) with hints (may be
 * NULL). cb runs once, from the loop, never from inside this call, unless
 * the lookup is cancelled first. Returns 0 and *ret, or a negative errno. */
int resolve_start(sd_event *event, const char *node, const char *service, const struct addrinfo *hints,
                  ResolveLookup lookup, ResolveDone cb, void *userdata, Resolve **ret);

/* Abandons q: its callback is not called; the thread finishes the lookup on
 * its own and frees what it holds. NULL-safe; returns NULL. */
Resolve *resolve_cancel(Resolve *q);

/* How many lookup threads exist right now (started and not yet finished,
 * cancelled ones included). */
unsigned resolve_threads(void);
