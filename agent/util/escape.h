/* SPDX-License-Identifier: Apache-2.0 */
/*
 * C-style escaping of text that came from a file or a server before it goes
 * to a terminal or the journal: control characters and newlines become \n,
 * \t, \r or \xNN, a backslash becomes \\, and bytes that are not UTF-8 (and
 * the C1 controls U+0080-U+009F, which some terminals obey) become \xNN, so
 * no input can move the cursor, recolour the screen or forge a log line.
 * Printable ASCII and valid UTF-8 text pass through unchanged.
 */
#pragma once

#include <stdio.h>

#include "util/strbuf.h"

/* Appends the escaped form of s to b. */
void strbuf_put_escaped(StrBuf *b, const char *s);
/* The escaped form of s, malloc'ed; NULL on OOM. */
char *cescape(const char *s);
/* Writes the escaped form of s to f, without allocating. */
void fputs_escaped(const char *s, FILE *f);
