/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "util/log.h"
#include "util/redact.h"

static int max_level = LOG_INFO;
static bool use_prefix = false;
static bool use_journal = false;
static char *context[_LOG_CONTEXT_MAX];
static LogJournalWriter journal_writer = NULL;

static const char *const context_keys[_LOG_CONTEXT_MAX] = {
        [LOG_CONTEXT_PASS] = "NAP_PASS",
        [LOG_CONTEXT_GENERATION] = "NAP_GENERATION",
        [LOG_CONTEXT_VALUES] = "NAP_VALUES",
};

void log_set_max_level(int level) {
        max_level = level;
}

void log_set_prefix(bool on) {
        use_prefix = on;
}

void log_set_journal(bool on) {
        use_journal = on;
}

bool log_get_journal(void) {
        return use_journal;
}

void log_set_journal_writer(LogJournalWriter writer) {
        journal_writer = writer;
}

/* True when stderr is the journal stream systemd handed us: a socket
 * passed on to a child, or stderr redirected elsewhere, is not. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_setup(void) {
        const char *l = getenv("NAP_LOG_LEVEL");

        use_journal = stderr_is_journal();
        use_prefix = use_journal || getenv("NAP_LOG_PREFIX");
        if (!l)
                return;
        if (streq(l, "debug"))
                max_level = LOG_DEBUG;
        else if (streq(l, "info"))
                max_level = LOG_INFO;
        else if (streq(l, "notice"))
                max_level = LOG_NOTICE;
        else if (streq(l, "warning"))
                max_level = LOG_WARNING;
        else if (streq(l, "err") || streq(l, "error"))
                max_level = LOG_ERR;
}

int log_context_set(LogContextField field, const char *value) {
        char *copy = NULL;

        assert(field >= 0 && field < _LOG_CONTEXT_MAX);
        if (value && !(copy = strdup(value)))
                return -ENOMEM;
        free(context[field]);
        context[field] = copy;
        return 0;
}

int log_context_setf(LogContextField field, const char *format, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        assert(format);

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return log_context_set(field, s);
}

const char *log_context_get(LogContextField field) {
        assert(field >= 0 && field < _LOG_CONTEXT_MAX);
        return context[field];
}

void log_context_clear(void) {
        for (size_t i = 0; i < _LOG_CONTEXT_MAX; i++) {
                free(context[i]);
                context[i] = NULL;
        }
}

/* ---- the journal ------------------------------------------------------------- */

#define MAX_FIELDS (16)

typedef struct Entry {
        char *fields[MAX_FIELDS];
        size_t n;
        bool oom;
} Entry;

/* Adds KEY=value, the value redacted; a NULL or empty value adds nothing. */
static void entry_add(Entry *e, const char *key, const char *value) {
        _cleanup_free_ char *clean = NULL;

        if (strempty(value) || e->n >= MAX_FIELDS)
                return;
        clean = redact(value);
        if (!clean || asprintf(&e->fields[e->n], "%s=%s", key, clean) < 0) {
                e->oom = true;
                return;
        }
        e->n++;
}

static void entry_add_object(Entry *e, const LogFields *f) {
        _cleanup_free_ char *object = NULL;

        if (strempty(f->kind) || strempty(f->name))
                return;
        if ((f->namespace ? asprintf(&object, "%s/%s/%s", f->kind, f->namespace, f->name)
                          : asprintf(&object, "%s/%s", f->kind, f->name)) < 0) {
                e->oom = true;
                return;
        }
        entry_add(e, "NAP_OBJECT", object);
}

static void entry_free(Entry *e) {
        for (size_t i = 0; i < e->n; i++) {
                explicit_bzero(e->fields[i], strlen(e->fields[i]));
                free(e->fields[i]);
        }
}

/* Sends one entry; < 0 when it could not (then stderr has it). */
static int journal_send(int level, int error, const LogFields *f, const char *message) {
        char priority[16], errnum[16];
        struct iovec iov[MAX_FIELDS];
        Entry e = { 0 };
        int r;

        snprintf(priority, sizeof priority, "%d", level);
        snprintf(errnum, sizeof errnum, "%d", error);
        entry_add(&e, "MESSAGE", message);
        entry_add(&e, "PRIORITY", priority);
        entry_add(&e, "SYSLOG_IDENTIFIER", program_invocation_short_name);
        if (error > 0)
                entry_add(&e, "ERRNO", errnum);
        if (f) {
                entry_add(&e, "MESSAGE_ID", f->message_id);
                entry_add_object(&e, f);
                entry_add(&e, "NAP_MODULE", f->module);
                entry_add(&e, "NAP_WORKLOAD", f->workload);
                entry_add(&e, "NAP_CLIENT", f->client);
        }
        for (size_t i = 0; i < _LOG_CONTEXT_MAX; i++)
                entry_add(&e, context_keys[i], context[i]);

        if (e.oom || e.n == 0)
                r = -ENOMEM;
        else {
                for (size_t i = 0; i < e.n; i++)
                        iov[i] = (struct iovec) { .iov_base = e.fields[i], .iov_len = strlen(e.fields[i]) };
                r = journal_writer ? journal_writer(iov, (int) e.n) : sd_journal_sendv(iov, (int) e.n);
        }
        entry_free(&e);
        return r;
}

/* ---- one entry ----------------------------------------------------------------- */

/* Every line passes the redaction step (util/redact.h): a server's text
 * that reached a message is cleaned here at the latest. */
static void log_dispatch(int level, int error, const LogFields *fields, const char *format, va_list ap)
        _printf_(4, 0);
static void log_dispatch(int level, int error, const LogFields *fields, const char *format, va_list ap) {
        char *raw = NULL, *line;

        if (vasprintf(&raw, format, ap) < 0)
                raw = NULL;
        line = raw ? redact(raw) : NULL;
        if (raw) {
                explicit_bzero(raw, strlen(raw));
                free(raw);
        }

        if (line && use_journal && journal_send(level, error, fields, line) >= 0) {
                free(line);
                return;
        }
        if (use_prefix)
                fprintf(stderr, "<%d>%s\n", level, line ? line : "(out of memory)");
        else
                fprintf(stderr, "%s\n", line ? line : "(out of memory)");
        free(line);
}

/* Both entry points: errno kept, -abs(error) returned, nothing formatted
 * above the level. */
static int log_vstruct(int level, int error, const LogFields *fields, const char *format, va_list ap)
        _printf_(4, 0);
static int log_vstruct(int level, int error, const LogFields *fields, const char *format, va_list ap) {
        int saved = errno;

        assert(format);

        error = abs(error);
        if (level > max_level)
                return -error;
        log_dispatch(level, error, fields, format, ap);
        errno = saved;
        return -error;
}

int log_internal(int level, int error, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_vstruct(level, error, NULL, format, ap);
        va_end(ap);
        return r;
}

int log_struct_internal(int level, int error, const LogFields *fields, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_vstruct(level, error, fields, format, ap);
        va_end(ap);
        return r;
}
