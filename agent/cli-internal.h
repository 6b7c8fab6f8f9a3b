/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verbs of the command line and what they share. Each returns the
 * process exit status.
 */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "manager.h"
#include "pass.h"
#include "template.h"

enum {
        CLI_EXIT_OK = 0,
        CLI_EXIT_FAILURE = 1,
        CLI_EXIT_CHANGES = 2, /* plan: changes pending */
        CLI_EXIT_USAGE = 64,
};

typedef struct CliArgs {
        const char *verb;
        const char *values;        /* the values.env in use (cli_find_values()) */
        const char *values_origin; /* why that one, for the line check, plan, status and run say */
        const char *values_candidates[3]; /* where it is looked for, in order, NULL-terminated: one
                                           * path when --values or $NAP_VALUES named it */
        bool json;
        bool show_secrets;
        const char *format;
        const char *output;
        const char *state_dir;
        const char *kubeconfig;
        bool live;
        bool resync;
        unsigned long resync_seconds;
        unsigned long settle_ms;
        unsigned long close_wait_seconds;
        unsigned long idle_close_seconds;
        unsigned long rollout_timeout_seconds; /* run, apply --wait; 0: run does not follow rollouts */
        bool wait;                             /* apply --wait */
        const char *metrics_dir;               /* run; NULL: the default, "": none */
        TemplateDirs templates;
} CliArgs;

/* Logs which values.env the verb reads and why (one info line). */
void cli_say_values(const CliArgs *a);
/* The manager's options the command line gave (read only; the caller may
 * change what it needs). */
ManagerOptions cli_manager_options(const CliArgs *a);
/* A read-only manager with the configuration and the desired objects
 * loaded: what `plan` and `restart` start from. */
typedef struct CliSession {
        Manager *m;
        Config *config;
        DesiredSet *desired;
} CliSession;

/* Opens s; on failure logs one line of what follows, e.g. "values.env is
 * invalid: nothing restarted" (the diagnostics said why). */
int cli_session_open(const CliArgs *a, const char *outcome, CliSession *s);
void cli_session_clear(CliSession *s);

int cli_check(CliArgs *a);
int cli_vars(CliArgs *a);
int cli_render(CliArgs *a);
int cli_run(CliArgs *a);
int cli_plan(CliArgs *a);
int cli_apply(CliArgs *a);
int cli_seed(CliArgs *a);
int cli_status(CliArgs *a);
int cli_gen_secrets(CliArgs *a);
int cli_doctor(CliArgs *a);
int cli_restart(CliArgs *a);
