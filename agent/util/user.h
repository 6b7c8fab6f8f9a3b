/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Users by name, for messages that say who could not read a file or who
 * owns one: "'nap-agent' (uid 998)", or "uid 998" when the account
 * database has no name for it.
 */
#pragma once

#include <sys/types.h>

/* "'NAME' (uid N)" or "uid N", malloc'ed; NULL on OOM. */
char *user_describe(uid_t uid);
/* NAME, or the uid as digits when there is none, malloc'ed (for a command
 * line such as `chown NAME`); NULL on OOM. */
char *user_name(uid_t uid);
