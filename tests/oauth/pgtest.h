/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the oauth tests share: the harness's environment, a raw libpq
 * connection that plays the control plane (and a concurrent writer), and
 * the schema reloaded into a fresh public schema.
 */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>

#include "oauth.h"

extern const OAuthClientSpec SANDBOX, BROWSER;

/* The variable's value; exits 1 when it is unset (not under the harness: a
 * failure, never a skip). */
const char *env(const char *name);
/* The raw connection (made on first use). */
PGconn *raw(void);
/* Runs s (simple protocol: may hold several statements); fails the test on error. */
void sql(const char *s);
/* Runs s in the database as the superuser postgres, through the harness's own socket
 * (trust: only root or the user running the server can reach it). */
void superuser_sql(const char *s);
/* The first column of the first row of s with up to two parameters, as a
 * static string; "(none)" without rows, "(null)" for NULL. */
const char *sql_value(const char *s, const char *p1, const char *p2);
/* Everything about a row a write would change, xmin included (malloc'ed). */
char *row_state(const char *id);
void load_schema(void);
/* Fresh tables in public; admins "admin-b" (older) and "admin-a" (newer) and
 * an even older plain user, so "oldest admin" is neither the first id nor
 * the oldest user. */
void reset(bool with_admins);
bool starts_with(const char *s, const char *prefix);
