/* SPDX-License-Identifier: Apache-2.0 */
/*
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
 */
#pragma once

#include <systemd/sd-event.h>

typedef enum ValuesChange {
        VALUES_COMPLETE, /* a pass may read it now */
        VALUES_WRITING,  /* a writer has it open: wait for its close */
        VALUES_UNSURE,   /* gone, or back by a directory change: wait for quiet */
} ValuesChange;

typedef struct ValuesWatch ValuesWatch;
typedef void (*ValuesEdit)(ValuesChange change, void *userdata);

/* Watches path (made absolute); edit is called from the loop, never from
 * inside this call. A directory that cannot be watched is logged and left
 * out; only -ENOMEM fails. */
int values_watch_new(sd_event *event, const char *path, ValuesEdit edit, void *userdata, ValuesWatch **ret);
ValuesWatch *values_watch_free(ValuesWatch *w);
/* Resolves the path again and re-arms the watches, judging nothing
 * (SIGHUP: the pass that follows reads the file anyway). */
int values_watch_refresh(ValuesWatch *w);
