/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/diag.h"
#include "util/escape.h"

static const Diag oom_diag = {
        .severity = DIAG_ERROR,
        .message = (char *) "out of memory: a diagnostic could not be recorded, so nothing is taken as valid",
};

static int diag_fill(Diag *d, const char *file, const char *hint, const char *format, va_list ap) _printf_(4, 0);
static int diag_fill(Diag *d, const char *file, const char *hint, const char *format, va_list ap) {
        if (vasprintf(&d->message, format, ap) < 0) {
                d->message = NULL;
                return -ENOMEM;
        }
        d->file = file ? strdup(file) : NULL;
        d->hint = hint ? strdup(hint) : NULL;
        if ((file && !d->file) || (hint && !d->hint)) {
                free(d->message);
                free(d->file);
                free(d->hint);
                return -ENOMEM;
        }
        return 0;
}

int diag_addv(DiagList *l, DiagSeverity severity, const char *file, unsigned line, unsigned col,
              const char *hint, const char *format, va_list ap) {
        Diag *d;

        assert(l);
        assert(format);

        if (l->n == l->allocated) {
                size_t n = l->allocated ? l->allocated * 2 : 8;
                Diag *p = realloc(l->items, n * sizeof *p);
                if (!p) {
                        l->oom = true;
                        return -ENOMEM;
                }
                l->items = p;
                l->allocated = n;
        }

        d = &l->items[l->n];
        *d = (Diag) { .severity = severity, .line = line, .col = col };
        if (diag_fill(d, file, hint, format, ap) < 0) {
                l->oom = true;
                return -ENOMEM;
        }
        l->n++;
        return 0;
}

int diag_add(DiagList *l, DiagSeverity severity, const char *file, unsigned line, unsigned col,
             const char *hint, const char *format, ...) {
        va_list ap;
        int r;

        assert(l);
        assert(format);

        va_start(ap, format);
        r = diag_addv(l, severity, file, line, col, hint, format, ap);
        va_end(ap);
        return r;
}

size_t diag_count(const DiagList *l, DiagSeverity severity) {
        size_t c;

        assert(l);

        c = severity == DIAG_ERROR && l->oom;
        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].severity == severity)
                        c++;
        return c;
}

const Diag *diag_first_error(const DiagList *l) {
        assert(l);

        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].severity == DIAG_ERROR)
                        return &l->items[i];
        return l->oom ? &oom_diag : NULL;
}

void diag_list_clear(DiagList *l) {
        assert(l);

        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].file);
                free(l->items[i].message);
                free(l->items[i].hint);
        }
        free(l->items);
        *l = (DiagList) { 0 };
}

static const char *diag_severity_to_string(DiagSeverity s) {
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

/* "FILE:LINE:COL: " with the file name escaped. */
static void put_location(const Diag *d, StrBuf *b) {
        strbuf_put_escaped(b, d->file ? d->file : "values.env");
        if (d->line > 0 && d->col > 0)
                strbuf_printf(b, ":%u:%u", d->line, d->col);
        else if (d->line > 0)
                strbuf_printf(b, ":%u", d->line);
        strbuf_puts(b, ": ");
}

void diag_print(const Diag *d, FILE *f) {
        StrBuf b = { 0 };
        char *s;

        assert(d);
        assert(f);

        put_location(d, &b);
        strbuf_printf(&b, "%s: ", diag_severity_to_string(d->severity));
        strbuf_put_escaped(&b, d->message);
        if (d->hint) {
                strbuf_puts(&b, "\n    hint: ");
                strbuf_put_escaped(&b, d->hint);
        }
        s = strbuf_steal(&b);
        fprintf(f, "%s\n", s ? s : "error: out of memory while printing a diagnostic");
        free(s);
}

void diag_list_print(const DiagList *l, FILE *f) {
        assert(l);
        assert(f);

        for (size_t i = 0; i < l->n; i++)
                diag_print(&l->items[i], f);
        if (l->oom)
                diag_print(&oom_diag, f);
}

char *diag_format_short(const Diag *d) {
        StrBuf b = { 0 };

        assert(d);

        put_location(d, &b);
        strbuf_put_escaped(&b, d->message);
        return strbuf_steal(&b);
}
