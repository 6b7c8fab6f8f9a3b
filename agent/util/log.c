/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/log.h"
#include "util/redact.h"

static int max_level = LOG_INFO;
static bool use_prefix = false;

/* True when stderr is the journal stream systemd handed us. */
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

        use_prefix = stderr_is_journal() || getenv("NAP_LOG_PREFIX");
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

/* Every line passes the redaction step (util/redact.h): a server's text
 * that reached a message is cleaned here at the latest. */
int log_internal(int level, int error, const char *format, ...) {
        int saved = errno;
        char *raw = NULL, *line;
        va_list ap;

        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;

        va_start(ap, format);
        if (vasprintf(&raw, format, ap) < 0)
                raw = NULL;
        va_end(ap);
        line = raw ? redact(raw) : NULL;
        if (raw) {
                explicit_bzero(raw, strlen(raw));
                free(raw);
        }

        if (use_prefix)
                fprintf(stderr, "<%d>%s\n", level, line ? line : "(out of memory)");
        else
                fprintf(stderr, "%s\n", line ? line : "(out of memory)");
        free(line);
        errno = saved;
        return -error;
}
