/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's private header: what daemon.c uses of the other files of
 * the daemon group.
 *
 * ---- values.env, followed with inotify (daemon-values.c) ----
 *
 * Following values.env with inotify, for the daemon, so that every edit is
 * seen however the file is reached and however it is written, without
 * polling. The path is resolved component by component, and watched are:
 *
 *   - every component that is, or was, a symlink, by name in its parent
 *     directory: re-pointing a symlinked directory (`ln -s releases/2
 *     current.tmp && mv -T current.tmp current`) or Kubernetes' `..data`
 *     swap re-resolves the path;
 *   - the file by its last name in its directory (made, renamed into place,
 *     removed, written, closed, its mode changed);
 *   - the file's own inode, so that a write through another hard link, in
 *     any directory, is seen too;
 *   - a missing component by name in the nearest existing directory, until
 *     it is there (a directory swapped or made later, a dangling symlink).
 *
 * The events of one read are taken together (a write in place is seen by
 * the directory and by the inode: one edit), then the path is resolved
 * again and the change judged: COMPLETE when the writer closed the file,
 * something was renamed or re-pointed into place, or its mode or owner
 * changed; WRITING when it was written and not closed yet; UNSURE when the
 * file went away or came back through a directory change, so that nobody
 * can say whether it is whole. An inotify queue overflow is COMPLETE.
 *
 * The file in use is the first of the candidates, in order (--values or
 * $NAP_VALUES alone, else /etc/nap's and get.sh's /opt/nap's), that exists
 * (a name that is there, also a dangling symlink); each is watched, so that
 * one appearing, or the one in use going, is seen.
 */
#pragma once

#include <systemd/sd-event.h>

typedef enum ValuesChange {
        VALUES_COMPLETE, /* a pass may read it now */
        VALUES_WRITING,  /* a writer has it open: wait for its close */
        VALUES_UNSURE,   /* gone, or back by a directory change: wait for quiet */
} ValuesChange;

typedef void (*ValuesEdit)(ValuesChange change, void *userdata);

/* edit() is called for a change of the file in use (a change of another
 * candidate is not one), never from inside these calls; switched() when
 * the file in use changes (now NULL: none is there any more), then edit()
 * with VALUES_COMPLETE when there is one. */
typedef struct ValuesSearch ValuesSearch;
typedef void (*ValuesSwitched)(const char *now, const char *before, void *userdata);

int values_search_new(sd_event *event, const char *const *candidates, ValuesEdit edit, ValuesSwitched switched,
                      void *userdata, ValuesSearch **ret);
ValuesSearch *values_search_free(ValuesSearch *s);
/* The candidate in use, or NULL when none exists. */
const char *values_search_current(const ValuesSearch *s);
/* Looks again which candidate is in use (without calling back) and
 * resolves every path again, re-arming the watches (SIGHUP: the pass that
 * follows reads the file anyway). */
int values_search_refresh(ValuesSearch *s);
