/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon-values.h"
#include "util/fs.h"
#include "util/log.h"

#define MAX_LINKS 8
#define MAX_DIRS (MAX_LINKS + 2)
#define MAX_NAMES (MAX_LINKS + 1)

#define FILE_EVENTS                                                                                     \
        (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | \
         IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define ANCESTOR_EVENTS (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

typedef struct WatchDir {
        sd_event_source *src;
        char *dir;
        char *names[MAX_NAMES]; /* the entries of interest in dir */
        size_t n_names;
        bool ancestor; /* dir is the nearest existing ancestor; names[0] the missing component */
} WatchDir;

struct ValuesWatch {
        sd_event *event;
        char *path;
        ValuesEdit complete, partial;
        void *userdata;
        WatchDir dirs[MAX_DIRS];
        size_t n_dirs;
        sd_event_source *refresh; /* deferred: refresh, then complete() or partial() */
        bool refresh_complete;    /* complete() after it even when the file is not there */
};

static void dirs_free(WatchDir *dirs, size_t n) {
        for (size_t i = 0; i < n; i++) {
                sd_event_source_disable_unref(dirs[i].src);
                free(dirs[i].dir);
                for (size_t k = 0; k < dirs[i].n_names; k++)
                        free(dirs[i].names[k]);
        }
}

static void dirs_clear(ValuesWatch *w) {
        dirs_free(w->dirs, w->n_dirs);
        w->n_dirs = 0;
}

ValuesWatch *values_watch_free(ValuesWatch *w) {
        if (!w)
                return NULL;
        dirs_clear(w);
        sd_event_source_disable_unref(w->refresh);
        sd_event_unref(w->event);
        free(w->path);
        free(w);
        return NULL;
}

static int on_refresh(sd_event_source *s, void *userdata) {
        ValuesWatch *w = userdata;

        w->refresh = sd_event_source_disable_unref(w->refresh);
        (void) values_watch_refresh(w);
        /* The directories changed (swapped, made anew): the file may be on
         * its way, or half written before the new watch could see it being
         * closed, so it gets the quiet period of a write left open. */
        if (w->refresh_complete)
                w->complete(w->userdata);
        else
                w->partial(w->userdata);
        w->refresh_complete = false;
        return 0;
}

/* Sources are not freed from inside their own dispatch: refresh later.
 * complete: an edit of the file itself is complete; otherwise the watched
 * directories changed, and what follows depends on the file being there. */
static void refresh_then(ValuesWatch *w, bool complete) {
        w->refresh_complete = w->refresh_complete || complete;
        if (!w->refresh && sd_event_add_defer(w->event, &w->refresh, on_refresh, w) < 0)
                w->complete(w->userdata);
}

static bool has_name(const WatchDir *d, const char *name) {
        for (size_t k = 0; k < d->n_names; k++)
                if (streq(d->names[k], name))
                        return true;
        return false;
}

static bool is_symlink(const WatchDir *d, const char *name) {
        _cleanup_free_ char *p = NULL;
        struct stat st;

        return asprintf(&p, "%s/%s", d->dir, name) >= 0 && lstat(p, &st) >= 0 && S_ISLNK(st.st_mode);
}

static int on_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        ValuesWatch *w = userdata;
        const WatchDir *d = NULL;

        if (ev->mask & IN_Q_OVERFLOW) {
                log_notice("inotify queue overflow: events were lost, treating it as an edit");
                refresh_then(w, true);
                return 0;
        }
        for (size_t i = 0; i < w->n_dirs; i++)
                if (w->dirs[i].src == s)
                        d = &w->dirs[i];
        if (!d)
                return 0;
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) {
                log_debug("watched directory '%s' went away (0x%x): following", d->dir, ev->mask);
                refresh_then(w, false);
                return 0;
        }
        if (ev->len == 0 || !has_name(d, ev->name))
                return 0;
        if (d->ancestor) {
                log_debug("'%s/%s' appeared: following", d->dir, ev->name);
                refresh_then(w, false);
        } else if ((ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) || ((ev->mask & IN_CREATE) && is_symlink(d, ev->name))) {
                log_debug("edit complete: '%s/%s' %s", d->dir, ev->name,
                          ev->mask & IN_CLOSE_WRITE ? "closed after writing"
                          : ev->mask & IN_MOVED_TO  ? "renamed into place"
                                                    : "created as a symlink");
                refresh_then(w, true);
        } else {
                log_debug("edit in progress: '%s/%s' (0x%x)", d->dir, ev->name, ev->mask);
                w->partial(w->userdata);
        }
        return 0;
}

static WatchDir *dir_slot(ValuesWatch *w, const char *dir, bool ancestor) {
        for (size_t i = 0; i < w->n_dirs; i++)
                if (streq(w->dirs[i].dir, dir) && w->dirs[i].ancestor == ancestor)
                        return &w->dirs[i];
        if (w->n_dirs >= MAX_DIRS)
                return NULL;
        w->dirs[w->n_dirs] = (WatchDir) { .dir = strdup(dir), .ancestor = ancestor };
        if (!w->dirs[w->n_dirs].dir)
                return NULL;
        return &w->dirs[w->n_dirs++];
}

static int dir_add_name(WatchDir *d, const char *name) {
        if (has_name(d, name))
                return 0;
        if (d->n_names >= MAX_NAMES || !(d->names[d->n_names] = strdup(name)))
                return -ENOMEM;
        d->n_names++;
        return 0;
}

/* Watches dir for name, or, when dir does not exist, its nearest existing
 * ancestor for the component on the way. */
static int watch_entry(ValuesWatch *w, const char *dir, const char *name) {
        _cleanup_free_ char *cur = strdup(dir), *component = strdup(name);
        struct stat st;
        bool ancestor = false;

        if (!cur || !component)
                return -ENOMEM;
        while (stat(cur, &st) < 0 || !S_ISDIR(st.st_mode)) {
                char *parent = path_dirname(cur);
                if (!parent)
                        return -ENOMEM;
                if (streq(parent, cur)) {
                        free(parent);
                        return -ENOENT;
                }
                free(component);
                component = strdup(path_basename(cur));
                free(cur);
                cur = parent;
                ancestor = true;
                if (!component)
                        return -ENOMEM;
        }
        WatchDir *d = dir_slot(w, cur, ancestor);
        return d ? dir_add_name(d, component) : -ENOMEM;
}

static bool entry_exists(const char *dir, const char *name) {
        _cleanup_free_ char *p = NULL;
        struct stat st;

        return asprintf(&p, "%s/%s", dir, name) >= 0 && lstat(p, &st) >= 0;
}

/* The file and every symlink on the way to its target, as paths. */
static int follow_links(const char *path, char *ret[MAX_NAMES], size_t *ret_n) {
        size_t n = 0;

        if (!(ret[n++] = strdup(path)))
                return -ENOMEM;
        while (n < MAX_NAMES) {
                char target[PATH_MAX];
                ssize_t k = readlink(ret[n - 1], target, sizeof target - 1);
                _cleanup_free_ char *dir = NULL;

                if (k < 0)
                        break; /* not a symlink, or missing: the end of the chain */
                target[k] = 0;
                if (target[0] == '/')
                        ret[n] = strdup(target);
                else if (!(dir = path_dirname(ret[n - 1])) || asprintf(&ret[n], "%s/%s", dir, target) < 0)
                        ret[n] = NULL;
                if (!ret[n])
                        return -ENOMEM;
                n++;
        }
        *ret_n = n;
        return 0;
}

/* The new watches are added before the old ones go: a directory watched
 * before and after keeps its kernel watch throughout, so no event falls
 * into the gap. */
int values_watch_refresh(ValuesWatch *w) {
        char *chain[MAX_NAMES] = { 0 };
        WatchDir old[MAX_DIRS];
        size_t n = 0, n_old = w->n_dirs;
        int r;

        memcpy(old, w->dirs, sizeof old);
        w->n_dirs = 0;
        r = follow_links(w->path, chain, &n);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *dir = path_dirname(chain[i]);
                r = dir ? watch_entry(w, dir, path_basename(chain[i])) : -ENOMEM;
        }
        for (size_t i = 0; i < MAX_NAMES; i++)
                free(chain[i]);
        for (size_t i = 0; r >= 0 && i < w->n_dirs; i++) {
                WatchDir *d = &w->dirs[i];
                r = sd_event_add_inotify(w->event, &d->src, d->dir, d->ancestor ? ANCESTOR_EVENTS : FILE_EVENTS,
                                         on_inotify, w);
                if (r < 0)
                        log_error_errno(r, "Failed to watch '%s': %s", d->dir, STRERROR(r));
                else
                        log_debug("watching '%s' for '%s'%s", d->dir, d->names[0],
                                  d->ancestor ? " to appear" : "");
                /* Made between our look and the watch: its event is lost. */
                if (r >= 0 && d->ancestor && entry_exists(d->dir, d->names[0]))
                        refresh_then(w, false);
        }
        dirs_free(old, n_old);
        return r;
}

int values_watch_new(sd_event *event, const char *path, ValuesEdit complete, ValuesEdit partial, void *userdata,
                     ValuesWatch **ret) {
        ValuesWatch *w = calloc(1, sizeof *w);
        int r;

        if (!w)
                return -ENOMEM;
        *w = (ValuesWatch) { .event = sd_event_ref(event), .path = strdup(path), .complete = complete, .partial = partial,
                       .userdata = userdata };
        r = w->path ? values_watch_refresh(w) : -ENOMEM;
        if (r < 0) {
                values_watch_free(w);
                return r;
        }
        *ret = w;
        return 0;
}
