/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A shared library opened with dlopen() while something uses it and closed
 * when the last user lets go. The daemon idles for minutes between passes;
 * libcurl and libpq (with the LDAP, Kerberos and GnuTLS libraries they pull
 * in) are only needed during a pass, so they are not kept resident.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* For a list of functions X(f): declare (in a header) and define the pointer
 * sym_f of the function's own type, and make f's DLibSymbol entry. */
#define DLIB_DECLARE_SYMBOL(f) extern __typeof__(f) *sym_##f;
#define DLIB_DEFINE_SYMBOL(f) __typeof__(f) *sym_##f;
#define DLIB_SYMBOL_ENTRY(f) { #f, (void **) &sym_##f },

/* One symbol to resolve: its name and the function pointer to fill. */
typedef struct DLibSymbol {
        const char *name;
        void **ptr;
} DLibSymbol;

typedef struct DLib {
        const char *soname;         /* "libcurl.so.4": the ABI the code was built against */
        const DLibSymbol *symbols;  /* all resolved at open, or the open fails */
        size_t n_symbols;
        int (*after_open)(void);    /* optional: library-wide init, negative errno on failure */
        void (*before_close)(void); /* optional: library-wide cleanup */
        bool pinned;                /* set by after_open: never close, the library cannot be unloaded safely */
        void *handle;
        unsigned users;
} DLib;

/* Adds a user; the first one opens the library and resolves every symbol.
 * On failure nothing stays open and err (if given) says why in one line. */
int dlib_open(DLib *lib, char *err, size_t err_size);

/* Drops a user; the last one closes the library and resets the pointers,
 * unless it is pinned. */
void dlib_close(DLib *lib);

bool dlib_is_open(const DLib *lib);
