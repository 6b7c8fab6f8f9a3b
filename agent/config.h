/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stage 2 of the pipeline: the variables of values.env -> the configuration.
 * Reads the keys as install.sh does (docs/platform.md §1: `${KEY:-default}`, so an
 * empty value takes the default like an absent key; an empty toggle is off),
 * derives the values the templates use (public URLs, redirect URIs, Service
 * type, node selectors, pull secrets), and checks every rule, collecting
 * diagnostics with file:line:col and a fix hint. Errors only where install.sh
 * stops or the deployment would certainly break; an error diagnostic means
 * nothing may be applied. Everything else that looks wrong is a warning.
 *
 * The result is a flat table of named variables, which is what the templates
 * substitute and what `nap-agent vars` prints. A variable can be absent
 * (value NULL): a template field that is exactly an absent variable is
 * dropped (e.g. nodePort under INGRESS_MODE=external).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "envfile.h"
#include "util/diag.h"
#include "util/strindex.h"

typedef enum Toggle {
        TOGGLE_ABSENT, /* no line for it: off, but never a reason to delete */
        TOGGLE_OFF,    /* present and "false" or empty (install.sh's default) */
        TOGGLE_ON,
} Toggle;

typedef enum Module {
        MODULE_SANDBOX,
        MODULE_BROWSER,
        MODULE_TURN, /* follows the browser toggle */
        _MODULE_MAX,
} Module;

typedef enum VarType {
        VAR_STRING,
        VAR_INT,  /* rendered as a JSON number when a template field is exactly it */
        VAR_BOOL, /* rendered as a JSON boolean likewise */
        VAR_JSON, /* a JSON text (a map, a list): rendered as that value likewise;
                   * only ever a whole template string */
} VarType;

typedef enum VarOrigin {
        VAR_FROM_FILE,
        VAR_DEFAULT,
        VAR_DERIVED,
        VAR_FILE_EMPTY, /* the file's line is empty, so the default applies */
} VarOrigin;

typedef struct ConfigVar {
        char *name;
        char *value; /* NULL: absent */
        VarType type;
        VarOrigin origin;
        bool secret;   /* never printed unless the user asks */
        unsigned line; /* where the file set it (0 if not from the file; for
                        * VAR_FILE_EMPTY, the empty line) */
        unsigned col;  /* column of its value */
} ConfigVar;

typedef struct Config {
        char *path;   /* of values.env, for diagnostics */
        EnvFile *env; /* owned */
        ConfigVar *vars;
        size_t n_vars;
        size_t allocated_vars;
        StrIndex *var_index; /* name -> its position in vars */
        Toggle toggles[_MODULE_MAX];
        bool ingress_external;
} Config;

/* Builds the configuration from a parsed file, taking ownership of env.
 * Returns 0 (with any error diagnostics in diags: check diag_has_errors()
 * before applying) or -ENOMEM. */
int config_new(EnvFile *env, Config **ret, DiagList *diags);
Config *config_free(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

/* Convenience: envfile_load() + config_new(). Returns -EINVAL after a parse
 * error (described in diags), -ENOENT when the file is missing. */
int config_load(const char *path, Config **ret, DiagList *diags);

const ConfigVar *config_var(const Config *c, const char *name);
/* The value, or NULL when absent or unknown. */
const char *config_get(const Config *c, const char *name);

/* "file", "default", "file (empty) → default" or "derived", for `vars`. */
const char *var_origin_to_string(VarOrigin o);

bool config_module_enabled(const Config *c, Module m);
Toggle config_module_toggle(const Config *c, Module m);
const char *module_to_string(Module m);
int module_from_string(const char *s);

/* The keys only the platform's install.sh applies (config-platform.c):
 * their number, the name of the i-th, whether the agent applies it to the
 * modules' objects as well, and its value as install.sh resolves it
 * (malloc'ed, "" when unset; may be a secret: wipe it). */
size_t config_platform_key_count(void);
const char *config_platform_key_name(size_t i);
bool config_platform_key_modules_too(size_t i);
int config_platform_key_value(const Config *c, size_t i, char **ret);

/* Whether a key (known or not) holds a secret by its name. */
bool config_key_is_secret(const char *name);
/* Whether s contains the value of any non-empty secret variable. */
bool config_contains_secret(const Config *c, const char *s);
