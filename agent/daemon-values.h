/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Following values.env with inotify, for the daemon: the directory of the
 * file and of every symlink target on the way (an in-place edit of the
 * target), through a directory that is swapped or removed (the nearest
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

typedef struct ValuesWatch ValuesWatch;
typedef void (*ValuesEdit)(void *userdata);

int values_watch_new(sd_event *event, const char *path, ValuesEdit complete, ValuesEdit partial, void *userdata,
                     ValuesWatch **ret);
ValuesWatch *values_watch_free(ValuesWatch *w);
/* Resolves the symlinks and directories again and re-arms the watches. */
int values_watch_refresh(ValuesWatch *w);
