/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small macros used everywhere: scope-bound cleanup, ownership hand-over and
 * array sizes. Nothing here knows about the agent.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hands ownership of a pointer variable to the caller and leaves NULL behind.
 * (A function rather than a statement expression: we build with -Wpedantic.
 * -fno-strict-aliasing makes the void ** access well defined for us.) */
static inline void *take_ptr_impl(void *pp) {
        void **p = pp;
        void *r = *p;
        *p = NULL;
        return r;
}
#define TAKE_PTR(p) take_ptr_impl((void *) &(p))

static inline int take_fd_impl(int *fd) {
        int r = *fd;
        *fd = -1;
        return r;
}
#define TAKE_FD(fd) take_fd_impl(&(fd))

/* Defines name(type **p) calling func(*p) when *p is set, for _cleanup_. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)           \
        static inline void func##p(type *p) {             \
                if (*p)                                   \
                        func(*p);                         \
        }                                                 \
        struct __useless_struct_to_allow_trailing_semicolon__

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

/* qsort() with NULL and 0 is undefined behaviour (UBSan says so); this is not. */
static inline void qsort_safe(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *)) {
        if (n > 1)
                qsort(base, n, size, cmp);
}

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)
#define strempty(s) (!(s) || !*(s))
/* Equal strings, or both NULL. */
static inline bool streq_ptr(const char *a, const char *b) {
        return (!a && !b) || (a && b && streq(a, b));
}
#define strna(s) ((s) ? (s) : "n/a")
