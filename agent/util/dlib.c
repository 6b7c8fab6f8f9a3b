/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See dlib.h. Not thread-safe: the agent is single-threaded (curl's resolver
 * threads never call back into us).
 */
#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "dlib.h"

static void reset_symbols(DLib *lib) {
        for (size_t i = 0; i < lib->n_symbols; i++)
                *lib->symbols[i].ptr = NULL;
}

int dlib_open(DLib *lib, char *err, size_t err_size) {
        const char *e;
        int r;

        assert(lib);
        assert(lib->soname);
        assert(lib->symbols || lib->n_symbols == 0);
        assert(err || err_size == 0);

        if (lib->handle) { /* in use, or pinned */
                lib->users++;
                return 0;
        }
        lib->handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
        if (!lib->handle) {
                e = dlerror();
                if (err)
                        snprintf(err, err_size, "%s could not be loaded: %s", lib->soname, e ? e : "unknown error");
                return -ELIBACC;
        }
        for (size_t i = 0; i < lib->n_symbols; i++) {
                *lib->symbols[i].ptr = dlsym(lib->handle, lib->symbols[i].name);
                if (!*lib->symbols[i].ptr) {
                        if (err)
                                snprintf(err, err_size, "%s lacks the symbol '%s'", lib->soname,
                                         lib->symbols[i].name);
                        r = -ELIBBAD;
                        goto fail;
                }
        }
        if (lib->after_open && (r = lib->after_open()) < 0) {
                if (err)
                        snprintf(err, err_size, "%s could not be initialized", lib->soname);
                goto fail;
        }
        lib->users = 1;
        return 0;
fail:
        lib->pinned = false;
        reset_symbols(lib);
        (void) dlclose(lib->handle);
        lib->handle = NULL;
        return r;
}

void dlib_close(DLib *lib) {
        assert(lib);

        if (lib->users == 0 || --lib->users > 0 || lib->pinned)
                return;
        if (lib->before_close)
                lib->before_close();
        reset_symbols(lib);
        (void) dlclose(lib->handle);
        lib->handle = NULL;
}

bool dlib_is_open(const DLib *lib) {
        assert(lib);

        return lib->handle != NULL;
}
