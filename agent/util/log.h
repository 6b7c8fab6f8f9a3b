/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging. Under systemd, when stderr is the journal stream systemd handed
 * us ($JOURNAL_STREAM names it: device and inode, compared as systemd
 * does), every entry goes to the journal through sd-journal, with fields
 * beside MESSAGE and PRIORITY: the event's MESSAGE_ID (util/log-messages.h,
 * explained in the catalog), the object, module, workload or oauth client
 * it is about, and the pass, generation and values.env it belongs to, so
 * `journalctl NAP_OBJECT=Deployment/nap/nap-browser` selects one object's
 * history. Elsewhere, lines go to stderr exactly as before: with sd-daemon
 * "<N>" priority prefixes when asked ($NAP_LOG_PREFIX), else plain; fields
 * are not printed there. Only the pass, the daemon and the CLI log above
 * debug; stage modules log at debug at most.
 *
 * Every text, the message and each field, passes the redaction step
 * (util/redact.h): a secret never reaches the journal, also not as a field.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <syslog.h>

#include <stdlib.h>
#include <string.h>

#include "util/macro.h"

#define STRERROR(e) strerror(abs(e))

void log_set_max_level(int level);
/* Prefix stderr lines with "<N>" (also when falling back from the journal). */
void log_set_prefix(bool on);
/* Entries to the journal (true) or to stderr (false). log_setup() decides
 * from $JOURNAL_STREAM; tests set it. */
void log_set_journal(bool on);
bool log_get_journal(void);
/* Set up from $JOURNAL_STREAM, $NAP_LOG_PREFIX and $NAP_LOG_LEVEL. */
void log_setup(void);

/* The fields of one entry beside MESSAGE and PRIORITY (journal only). Every
 * member may be NULL. The strings are borrowed for the call. */
typedef struct LogFields {
        const char *message_id; /* MESSAGE_ID=, one of util/log-messages.h */
        /* NAP_OBJECT=kind/namespace/name, or kind/name for a cluster-scoped
         * object (namespace NULL); only when kind and name are set */
        const char *kind;
        const char *namespace;
        const char *name;
        const char *module;   /* NAP_MODULE= (sandbox, browser, turn, core) */
        const char *workload; /* NAP_WORKLOAD= (a Deployment's or DaemonSet's name) */
        const char *client;   /* NAP_CLIENT= (an oauth client id) */
} LogFields;

/* Fields every entry carries until changed (journal only): set once by the
 * pass or the daemon, not per line. */
typedef enum LogContextField {
        LOG_CONTEXT_PASS,       /* NAP_PASS=, the id of the pass running */
        LOG_CONTEXT_GENERATION, /* NAP_GENERATION= */
        LOG_CONTEXT_VALUES,     /* NAP_VALUES=, the values.env followed */
        _LOG_CONTEXT_MAX,
} LogContextField;

/* Sets a context field (copied) or clears it (value NULL). -ENOMEM leaves it
 * as it was. */
int log_context_set(LogContextField field, const char *value);
int log_context_setf(LogContextField field, const char *format, ...) _printf_(2, 3);
/* The field's value, or NULL. */
const char *log_context_get(LogContextField field);
/* Clears every context field. */
void log_context_clear(void);

/* Where journal entries go: sd_journal_sendv() unless a test replaces it
 * (NULL restores it). A writer that fails makes the entry go to stderr. */
typedef int (*LogJournalWriter)(const struct iovec *iov, int n);
void log_set_journal_writer(LogJournalWriter writer);

/* Logs, and returns -abs(error) so callers can `return log_error_errno(r, ...)`.
 * We build with -Wpedantic, which refuses glibc's "%m": use "%s" with
 * STRERROR(r) instead. fields may be NULL. */
int log_internal(int level, int error, const char *format, ...) _printf_(3, 4);
int log_struct_internal(int level, int error, const LogFields *fields, const char *format, ...) _printf_(4, 5);

/* A LogFields for one call, e.g.
 *   log_struct(LOG_INFO, 0, LOG_FIELDS(.message_id = NAP_MESSAGE_OBJECT_ADOPTED,
 *              .kind = "Service", .namespace = "nap", .name = "nap-sandbox"), "...", ...); */
#define LOG_FIELDS(...) (&(const LogFields) { __VA_ARGS__ })
#define log_struct(level, error, fields, ...) log_struct_internal((level), (error), (fields), __VA_ARGS__)

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
