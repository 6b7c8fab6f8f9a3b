/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's private header: what daemon.c uses of the other files of
 * the daemon group.
 *
 * ---- values.env, followed with inotify (daemon-values.c) ----
 *
 * Watched: the directory of the file and of every symlink target on the
 * way (an in-place edit of the target), through a directory that is swapped or removed (the nearest
 * existing ancestor is watched until it is back), a symlink whose target
 * does not exist yet, and a queue overflow (treated as an edit).
 *
 * An edit is complete when the writer closes the file (IN_CLOSE_WRITE) or
 * renames it into place (IN_MOVED_TO), or a symlink is created: then
 * complete() runs. A write, an attribute change or a removal without that
 * calls partial(), and the caller waits for a quiet period.
 */
#pragma once

#include <systemd/sd-event.h>

typedef void (*ValuesEdit)(void *userdata);

/* The candidates for values.env, in order (--values or $NAP_VALUES alone,
 * else /etc/nap's and get.sh's /opt/nap's): the first that exists (a name
 * that is there, also a dangling symlink) is the one in use, and each is
 * watched, so that one appearing, or the one in use going, is seen.
 * complete() and partial() are called for an edit of the file in use (an
 * edit of another is not one); switched() when the file in use changes
 * (NULL: none is there any more), then complete() when there is one. */
typedef struct ValuesSearch ValuesSearch;
typedef void (*ValuesSwitched)(const char *now, const char *before, void *userdata);

int values_search_new(sd_event *event, const char *const *candidates, ValuesEdit complete, ValuesEdit partial,
                      ValuesSwitched switched, void *userdata, ValuesSearch **ret);
ValuesSearch *values_search_free(ValuesSearch *s);
/* The candidate in use, or NULL when none exists. */
const char *values_search_current(const ValuesSearch *s);
/* Looks again which candidate is in use (without calling back) and re-arms the watches. */
int values_search_refresh(ValuesSearch *s);
