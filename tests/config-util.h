/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Builds a Config from "KEY=value" strings without going through the
 * values.env parser, so the config and template tests cover their own
 * module only (the parser has its own tests).
 */
#pragma once

#include <stdarg.h>
#include <string.h>

#include "config.h"
#include "tests.h"

static inline Config *config_from_strv(const char *const *kv, DiagList *diags) {
        EnvFile *f = calloc(1, sizeof *f);
        Config *c = NULL;
        size_t n = 0;

        ASSERT_TRUE(f);
        while (kv[n])
                n++;
        f->path = strdup("values.env");
        f->entries = calloc(n ? n : 1, sizeof *f->entries);
        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(kv[i], '=');
                ASSERT_TRUE(eq);
                f->entries[i] = (EnvEntry) {
                        .key = strndup(kv[i], (size_t) (eq - kv[i])),
                        .value = strdup(eq + 1),
                        .line = (unsigned) i + 1,
                        .col = 1,
                        .value_col = (unsigned) (eq - kv[i]) + 2,
                };
        }
        f->n_entries = n;
        ASSERT_OK(config_new(f, &c, diags));
        return c;
}

/* The keys every enabled-module test starts from. */
#define BASE_KEYS                                                               \
        "TOS_HOST=203.0.113.7",                                                 \
        "SANDBOX_JWT_SECRET=sandbox-jwt-0123456789abcdef0123456789abcdef",      \
        "SANDBOX_SERVICE_KEY=service-key-0123456789abcdef0123456789abcdef",     \
        "BROWSER_JWT_SECRET=browser-jwt-0123456789abcdef0123456789abcdef",      \
        "TURN_AUTH_SECRET=turn-secret-0123456789abcdef0123456789abcdef",        \
        "TURN_HOST=203.0.113.8"

static inline bool diags_mention(const DiagList *d, DiagSeverity sev, const char *needle) {
        for (size_t i = 0; i < d->n; i++)
                if (d->items[i].severity == sev && strstr(d->items[i].message, needle))
                        return true;
        return false;
}

/* Checks config_get() of each "KEY=value" of want (NULL-terminated). */
static inline void config_expect(const Config *c, const char *const *want) {
        for (size_t i = 0; want[i]; i++) {
                const char *eq = strchr(want[i], '=');
                char key[128];

                ASSERT_TRUE(eq && (size_t) (eq - want[i]) < sizeof key);
                memcpy(key, want[i], (size_t) (eq - want[i]));
                key[eq - want[i]] = 0;
                test_context = want[i];
                ASSERT_STREQ(config_get(c, key), eq + 1);
        }
        test_context = NULL;
}
#define EXPECT(c, ...) config_expect((c), (const char *const[]) { __VA_ARGS__, NULL })
