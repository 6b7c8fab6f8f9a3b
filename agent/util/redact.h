/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one redaction step. Every text that came from a server or a library
 * (an error message, a response body) passes through redact() before it is
 * logged, stored or printed, and every occurrence of a secret value in it
 * becomes "<redacted>".
 *
 * The process keeps the secret values of the configuration in use and of
 * the one before it (a server may still echo an old value, e.g. of a live
 * object that is being replaced), here in memory only, never on disk, and
 * wipes them when they are replaced. Each value is looked for in the forms
 * it travels in: plain; base64, standalone and at any alignment inside a
 * longer base64 text; and JSON-escaped (minimally, as Go also escapes < > &,
 * with every non-ASCII character as \uXXXX, and escaped twice). A value of
 * fewer than 4 bytes is replaced only where it stands as a whole word (it
 * would otherwise match inside unrelated words), and gets no base64 forms.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define REDACTED "<redacted>"

/* Sets the secret values of the configuration in use (n of them; empty ones
 * are ignored; copies are kept). When they differ from the current set, the
 * current set becomes the previous one and the one before that is wiped.
 * -ENOMEM leaves everything as it was. */
int redact_set_secrets(const char *const *values, size_t n);
/* Adds a secret that is not the configuration's (the kubeconfig's token,
 * the secret digest's key): kept until redact_forget_secrets(). */
int redact_pin_secret(const char *value);
/* Forgets (wipes) every value. */
void redact_forget_secrets(void);
/* How many values are known, all sets together (for tests). */
size_t redact_n_secrets(void);

/* s with every form of every known secret replaced by REDACTED; malloc'ed,
 * NULL only when out of memory. */
char *redact(const char *s);
/* The same in place, truncated to size (the result is always
 * NUL-terminated; out of memory, buf says so instead). Returns the number
 * of replacements. */
size_t redact_buf(char *buf, size_t size);

/* The forms value is looked for in (NULL-terminated, longest first,
 * malloc'ed; free with redact_forms_free()). For tests and the fuzzer. */
char **redact_forms(const char *value);
void redact_forms_free(char **forms);
