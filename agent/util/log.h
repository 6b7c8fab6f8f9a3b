/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging to stderr with sd-daemon "<N>" priority prefixes, so journald keeps
 * the level when the agent runs under systemd. Only the manager and the CLI
 * log above debug; stage modules log at debug at most.
 */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include <stdlib.h>
#include <string.h>

#include "util/macro.h"

#define STRERROR(e) strerror(abs(e))

/* Set up from $JOURNAL_STREAM and $NAP_LOG_LEVEL. */
void log_setup(void);

/* Logs, and returns -abs(error) so callers can `return log_error_errno(r, ...)`.
 * We build with -Wpedantic, which refuses glibc's "%m": use "%s" with
 * STRERROR(r) instead. */
int log_internal(int level, int error, const char *format, ...) _printf_(3, 4);

#define log_full_errno(level, error, ...) log_internal((level), (error), __VA_ARGS__)
#define log_debug(...) log_internal(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_internal(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_internal(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_internal(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_internal(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_internal(LOG_ERR, (e), __VA_ARGS__)
