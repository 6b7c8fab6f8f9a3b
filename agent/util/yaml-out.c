/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <stdbool.h>
#include <math.h>
#include <string.h>

#include "util/macro.h"
#include "util/yaml-out.h"

static void write_string(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                default:
                        if (*p < 0x20 || *p == 0x7f)
                                fprintf(f, "\\x%02x", *p);
                        else
                                fputc(*p, f);
                }
        }
        fputc('"', f);
}

static bool plain_key(const char *s) {
        if (!*s || strchr("-?:,[]{}#&*!|>'\"%@`", s[0]))
                return false;
        for (const char *p = s; *p; p++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-", *p))
                        return false;
        return !streq(s, "true") && !streq(s, "false") && !streq(s, "null") && !streq(s, "yes") && !streq(s, "no");
}

static void write_scalar(FILE *f, const cJSON *j) {
        if (cJSON_IsString(j))
                write_string(f, j->valuestring);
        else if (cJSON_IsNumber(j)) {
                double d = j->valuedouble;
                if (d == floor(d) && fabs(d) < 1e15)
                        fprintf(f, "%.0f", d);
                else
                        fprintf(f, "%.17g", d);
        } else if (cJSON_IsBool(j))
                fputs(cJSON_IsTrue(j) ? "true" : "false", f);
        else if (cJSON_IsObject(j))
                fputs("{}", f);
        else if (cJSON_IsArray(j))
                fputs("[]", f);
        else
                fputs("null", f);
}

static bool is_collection(const cJSON *j) {
        return (cJSON_IsObject(j) || cJSON_IsArray(j)) && j->child;
}

static void write_node(FILE *f, const cJSON *j, int indent, bool inline_first);

static void write_key(FILE *f, const char *k) {
        if (plain_key(k))
                fputs(k, f);
        else
                write_string(f, k);
        fputc(':', f);
}

/* Writes the members of an object; the first on the current line when
 * inline_first is set (after "- "). */
static void write_object(FILE *f, const cJSON *j, int indent, bool inline_first) {
        for (const cJSON *c = j->child; c; c = c->next) {
                if (!(inline_first && c == j->child))
                        fprintf(f, "%*s", indent, "");
                write_key(f, c->string);
                if (is_collection(c)) {
                        fputc('\n', f);
                        write_node(f, c, cJSON_IsArray(c) ? indent : indent + 2, false);
                } else {
                        fputc(' ', f);
                        write_scalar(f, c);
                        fputc('\n', f);
                }
        }
}

static void write_node(FILE *f, const cJSON *j, int indent, bool inline_first) {
        if (cJSON_IsObject(j) && j->child) {
                write_object(f, j, indent, inline_first);
                return;
        }
        if (!cJSON_IsArray(j) || !j->child) {
                write_scalar(f, j);
                fputc('\n', f);
                return;
        }
        for (const cJSON *c = j->child; c; c = c->next) {
                fprintf(f, "%*s- ", indent, "");
                if (cJSON_IsObject(c) && c->child)
                        write_object(f, c, indent + 2, true);
                else if (cJSON_IsArray(c) && c->child) {
                        fputc('\n', f);
                        write_node(f, c, indent + 2, false);
                } else {
                        write_scalar(f, c);
                        fputc('\n', f);
                }
        }
}

void yaml_write(FILE *f, const cJSON *j) {
        assert(f);
        assert(j);

        write_node(f, j, 0, false);
}
