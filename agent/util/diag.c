/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/diag.h"

int diag_add(DiagList *l, DiagSeverity severity, const char *file, unsigned line, unsigned col,
             const char *hint, const char *format, ...) {
        va_list ap;
        Diag *d;
        int r;

        if (l->n == l->allocated) {
                size_t n = l->allocated ? l->allocated * 2 : 8;
                Diag *p = realloc(l->items, n * sizeof *p);
                if (!p)
                        return -ENOMEM;
                l->items = p;
                l->allocated = n;
        }

        d = &l->items[l->n];
        *d = (Diag) { .severity = severity, .line = line, .col = col };
        va_start(ap, format);
        r = vasprintf(&d->message, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        d->file = file ? strdup(file) : NULL;
        d->hint = hint ? strdup(hint) : NULL;
        if ((file && !d->file) || (hint && !d->hint)) {
                free(d->message);
                free(d->file);
                free(d->hint);
                return -ENOMEM;
        }
        l->n++;
        return 0;
}

size_t diag_count(const DiagList *l, DiagSeverity severity) {
        size_t c = 0;

        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].severity == severity)
                        c++;
        return c;
}

const Diag *diag_first_error(const DiagList *l) {
        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].severity == DIAG_ERROR)
                        return &l->items[i];
        return NULL;
}

void diag_list_clear(DiagList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].file);
                free(l->items[i].message);
                free(l->items[i].hint);
        }
        free(l->items);
        *l = (DiagList) { 0 };
}

const char *diag_severity_to_string(DiagSeverity s) {
        switch (s) {
        case DIAG_ERROR:
                return "error";
        case DIAG_WARNING:
                return "warning";
        case DIAG_NOTE:
                return "note";
        }
        return "?";
}

static int format_location(const Diag *d, char *buf, size_t size) {
        if (d->line > 0 && d->col > 0)
                return snprintf(buf, size, "%s:%u:%u: ", d->file ? d->file : "values.env", d->line, d->col);
        if (d->line > 0)
                return snprintf(buf, size, "%s:%u: ", d->file ? d->file : "values.env", d->line);
        return snprintf(buf, size, "%s: ", d->file ? d->file : "values.env");
}

void diag_print(const Diag *d, FILE *f) {
        char loc[1024];

        format_location(d, loc, sizeof loc);
        fprintf(f, "%s%s: %s\n", loc, diag_severity_to_string(d->severity), d->message);
        if (d->hint)
                fprintf(f, "    hint: %s\n", d->hint);
}

char *diag_format_short(const Diag *d) {
        char loc[1024], *s;

        format_location(d, loc, sizeof loc);
        if (asprintf(&s, "%s%s", loc, d->message) < 0)
                return NULL;
        return s;
}
