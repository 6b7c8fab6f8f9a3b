/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See resolve.h. One detached thread per lookup: lookups are rare (one per
 * new database connection to a host name), so there is no pool to keep
 * alive, and nothing stays resident between passes. The query is shared by
 * the loop and the thread and freed by whichever lets go last; the thread
 * touches nothing else.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "util/macro.h"
#include "util/resolve.h"

struct Resolve {
        atomic_uint n_ref; /* the loop side and the thread */
        atomic_bool done;  /* the thread's answer below is complete */
        int efd;           /* the thread writes to it when done */

        /* Set before the thread starts, read-only after. */
        char *node, *service;
        struct addrinfo hints;
        bool has_hints;
        ResolveLookup lookup;

        /* Written by the thread before done. */
        int gai_error, sys_errno;
        struct addrinfo *ai;

        /* The loop side only. */
        sd_event_source *source;
        ResolveDone cb;
        void *userdata;
};

static atomic_uint n_threads;

unsigned resolve_threads(void) {
        return atomic_load(&n_threads);
}

static void resolve_unref(Resolve *q) {
        if (!q || atomic_fetch_sub(&q->n_ref, 1) != 1)
                return;
        if (q->ai)
                freeaddrinfo(q->ai);
        if (q->efd >= 0)
                close(q->efd);
        free(q->node);
        free(q->service);
        free(q);
}

static void *lookup_thread(void *p) {
        Resolve *q = p;
        uint64_t one = 1;
        int r;

        errno = 0;
        r = q->lookup(q->node, q->service, q->has_hints ? &q->hints : NULL, &q->ai);
        q->sys_errno = r == EAI_SYSTEM ? errno : 0;
        q->gai_error = r;
        atomic_store_explicit(&q->done, true, memory_order_release);
        /* An eventfd write cannot block (one write per counter) nor raise SIGPIPE. */
        (void) !write(q->efd, &one, sizeof one);
        resolve_unref(q);
        atomic_fetch_sub(&n_threads, 1);
        return NULL;
}

static int on_answer(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Resolve *q = userdata;

        if (!atomic_load_explicit(&q->done, memory_order_acquire))
                return 0;
        q->source = sd_event_source_disable_unref(q->source);
        q->cb(q, q->gai_error, q->sys_errno, q->gai_error == 0 ? q->ai : NULL, q->userdata);
        resolve_unref(q);
        return 0;
}

/* Starts the thread with every signal blocked: signals are the loop's. */
static int start_thread(Resolve *q) {
        sigset_t all, saved;
        pthread_attr_t attr;
        pthread_t tid;
        int r;

        r = pthread_attr_init(&attr);
        if (r != 0)
                return -r;
        r = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (r == 0) {
                sigfillset(&all);
                pthread_sigmask(SIG_SETMASK, &all, &saved);
                atomic_fetch_add(&q->n_ref, 1);
                atomic_fetch_add(&n_threads, 1);
                r = pthread_create(&tid, &attr, lookup_thread, q);
                if (r != 0) {
                        atomic_fetch_sub(&q->n_ref, 1);
                        atomic_fetch_sub(&n_threads, 1);
                }
                pthread_sigmask(SIG_SETMASK, &saved, NULL);
        }
        pthread_attr_destroy(&attr);
        return -r;
}

int resolve_start(sd_event *event, const char *node, const char *service, const struct addrinfo *hints,
                  ResolveLookup lookup, ResolveDone cb, void *userdata, Resolve **ret) {
        Resolve *q;
        int r;

        assert(event);
        assert(node || service);
        assert(cb);
        assert(ret);

        q = calloc(1, sizeof *q);
        if (!q)
                return -ENOMEM;
        atomic_init(&q->n_ref, 1);
        atomic_init(&q->done, false);
        q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        q->lookup = lookup ? lookup : getaddrinfo;
        q->cb = cb;
        q->userdata = userdata;
        if (hints) {
                q->hints = (struct addrinfo) { .ai_flags = hints->ai_flags, .ai_family = hints->ai_family,
                                               .ai_socktype = hints->ai_socktype,
                                               .ai_protocol = hints->ai_protocol };
                q->has_hints = true;
        }
        if (q->efd < 0)
                r = negative_errno();
        else if ((node && !(q->node = strdup(node))) || (service && !(q->service = strdup(service))))
                r = -ENOMEM;
        else
                r = sd_event_add_io(event, &q->source, q->efd, EPOLLIN, on_answer, q);
        if (r >= 0)
                r = start_thread(q);
        if (r < 0) {
                q->source = sd_event_source_disable_unref(q->source);
                resolve_unref(q);
                return r;
        }
        *ret = q;
        return 0;
}

Resolve *resolve_cancel(Resolve *q) {
        if (!q)
                return NULL;
        q->source = sd_event_source_disable_unref(q->source);
        resolve_unref(q);
        return NULL;
}
