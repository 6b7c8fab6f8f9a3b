/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See daemon-internal.h (values.env, followed with inotify). A Route is where the path leads now: the
 * directories to watch with the names of interest in each, and the file's
 * identity. Every event only notes what it saw (Hints) and asks for one
 * refresh, which runs REFRESH_USEC after the first of them, so that the
 * events of one write are all noted first and judged once, against the
 * identity the path had before. A write through the path is reported
 * twice, by the directory's watch and by the inode's, and the kernel
 * queues the two one after the other: waking the daemon with the first
 * may preempt the writer before it queues the second, so one read can
 * hold the first alone. Judged apart, the two halves were two passes for
 * one edit; the wait lets the writer run again and queue the second.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/log.h"

#define MAX_HOPS 40 /* symlinks followed on the way, as the kernel's ELOOP */
#define REFRESH_USEC (2 * USEC_PER_MSEC) /* from the first event of a write to its judgment */
#define MAX_DIRS 16
#define MAX_NAMES 8
#define MAX_WAS_LINKS 16

/* Every directory: a name on the way made, moved in or out, or removed,
 * the directory itself gone, and the file as its directory sees it by
 * name. One mask for all of them, whatever a directory is watched for:
 * sd-event never narrows a kernel watch when a source goes, and the
 * sd-event of systemd 252 (Debian 12) loops forever on an event that no
 * source of the watch asked for (systemd issue 38265, fixed in 2025): a
 * directory watched for the file, then only for a name on the way, would
 * hang the loop at the next write of another file there. */
#define DIR_EVENTS                                                                                                    \
        (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_CLOSE_WRITE |        \
         IN_MODIFY | IN_ATTRIB | IN_ONLYDIR)
/* The file's inode, through whichever link it is written (only regular
 * files get one: the same mask on every inode it is ever put on). */
#define INODE_EVENTS (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

enum {
        ROLE_PATH = 1u << 0, /* a component on the way: is or was a symlink, or is missing */
        ROLE_FILE = 1u << 1, /* the file's own last name */
};

typedef struct WatchName {
        char *name;
        unsigned roles;
} WatchName;

typedef struct WatchDir {
        sd_event_source *src;
        char *dir;
        dev_t dev; /* the directory the path named when it was resolved */
        ino_t ino;
        WatchName names[MAX_NAMES];
        size_t n_names;
} WatchDir;

typedef struct FileId {
        bool exists;
        dev_t dev;
        ino_t ino;
        mode_t mode;
        uid_t uid;
        gid_t gid;
} FileId;

typedef struct Route {
        WatchDir dirs[MAX_DIRS];
        size_t n_dirs;
        char *file;            /* the file's resolved path, when it exists */
        FileId id;
        sd_event_source *inode; /* the file's own inode (a regular file we may read) */
} Route;

/* What the events since the last refresh said. */
typedef struct Hints {
        bool close;          /* closed after writing */
        bool modify;         /* written */
        bool attrib;         /* attributes changed */
        bool created;        /* its last name made anew, not as a symlink */
        bool changed;        /* something on the way changed otherwise */
        bool overflow;
        const char *placed;  /* put in place whole: renamed, or a symlink made or re-pointed (why, static) */
        char placed_name[NAME_MAX + 1];
} Hints;

typedef struct ValuesWatch ValuesWatch;

struct ValuesWatch {
        sd_event *event;
        char *path;
        ValuesEdit edit;
        void *userdata;
        Route route;
        char *was_links[MAX_WAS_LINKS]; /* paths of components seen as symlinks, oldest replaced first */
        size_t next_was_link;
        sd_event_source *refresh;
        Hints hints;
};

static void route_clear(Route *r) {
        for (size_t i = 0; i < r->n_dirs; i++) {
                sd_event_source_disable_unref(r->dirs[i].src);
                free(r->dirs[i].dir);
                for (size_t k = 0; k < r->dirs[i].n_names; k++)
                        free(r->dirs[i].names[k].name);
        }
        sd_event_source_disable_unref(r->inode);
        free(r->file);
        *r = (Route) { 0 };
}

static ValuesWatch *values_watch_free(ValuesWatch *w) {
        if (!w)
                return NULL;
        route_clear(&w->route);
        for (size_t i = 0; i < MAX_WAS_LINKS; i++)
                free(w->was_links[i]);
        sd_event_source_disable_unref(w->refresh);
        sd_event_unref(w->event);
        free(w->path);
        free(w);
        return NULL;
}

/* ---- resolving the path ------------------------------------------------- */

static int route_add(Route *r, const char *dir, const char *name, unsigned role) {
        WatchDir *d = NULL;

        for (size_t i = 0; i < r->n_dirs && !d; i++)
                if (streq(r->dirs[i].dir, dir))
                        d = &r->dirs[i];
        if (!d) {
                if (r->n_dirs >= MAX_DIRS)
                        return -E2BIG;
                struct stat st;
                d = &r->dirs[r->n_dirs];
                *d = (WatchDir) { .dir = strdup(dir) };
                if (!d->dir)
                        return -ENOMEM;
                if (stat(dir, &st) >= 0) {
                        d->dev = st.st_dev;
                        d->ino = st.st_ino;
                }
                r->n_dirs++;
        }
        for (size_t k = 0; k < d->n_names; k++)
                if (streq(d->names[k].name, name)) {
                        d->names[k].roles |= role;
                        return 0;
                }
        if (d->n_names >= MAX_NAMES)
                return -E2BIG;
        d->names[d->n_names] = (WatchName) { .name = strdup(name), .roles = role };
        if (!d->names[d->n_names].name)
                return -ENOMEM;
        d->n_names++;
        return 0;
}

static bool was_link(const ValuesWatch *w, const char *path) {
        for (size_t i = 0; i < MAX_WAS_LINKS; i++)
                if (w->was_links[i] && streq(w->was_links[i], path))
                        return true;
        return false;
}

static int remember_link(ValuesWatch *w, const char *path) {
        char *p;

        if (was_link(w, path))
                return 0;
        if (!(p = strdup(path)))
                return -ENOMEM;
        free(w->was_links[w->next_was_link]);
        w->was_links[w->next_was_link] = p;
        w->next_was_link = (w->next_was_link + 1) % MAX_WAS_LINKS;
        return 0;
}

/* Moves the first component of rest into c (slashes around it dropped).
 * Returns 1, 0 at the end, or -ENAMETOOLONG. */
static int pop_component(char *rest, char c[NAME_MAX + 1]) {
        size_t skip = strspn(rest, "/"), n = strcspn(rest + skip, "/");

        if (n == 0)
                return 0;
        if (n > NAME_MAX)
                return -ENAMETOOLONG;
        memcpy(c, rest + skip, n);
        c[n] = 0;
        skip += n;
        skip += strspn(rest + skip, "/");
        memmove(rest, rest + skip, strlen(rest + skip) + 1);
        return 1;
}

/* rest = target/rest */
static int prepend(char rest[PATH_MAX], const char *target) {
        size_t t = strlen(target), n = strlen(rest);

        if (t + 1 + n >= PATH_MAX)
                return -ENAMETOOLONG;
        memmove(rest + t + 1, rest, n + 1);
        memcpy(rest, target, t);
        rest[t] = '/';
        return 0;
}

static void parent_of(char cur[PATH_MAX]) {
        char *slash = strrchr(cur, '/');

        if (slash && slash != cur)
                *slash = 0;
        else
                strcpy(cur, "/");
}

static int join(char out[PATH_MAX], const char *dir, const char *name) {
        int n = snprintf(out, PATH_MAX, "%s%s%s", dir, streq(dir, "/") ? "" : "/", name);
        return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* A symlink component: watched by name, followed (rest = its target/rest).
 * Returns 1 to go on, 0 to stop here (a loop, a target too long). */
static int follow_link(ValuesWatch *w, char cur[PATH_MAX], char rest[PATH_MAX], const char *cand, unsigned *hops) {
        char target[PATH_MAX];
        ssize_t k;
        int r = remember_link(w, cand);

        if (r < 0)
                return r;
        k = readlink(cand, target, sizeof target - 1);
        if (k < 0 || ++*hops > MAX_HOPS)
                return 0; /* replaced since, or a loop: the watch on its name sees what comes next */
        target[k] = 0;
        if (prepend(rest, target) < 0)
                return 0;
        if (target[0] == '/')
                strcpy(cur, "/");
        return 1;
}

/* Walks w->path as the kernel would, noting in r what to watch. */
static int route_resolve(ValuesWatch *w, Route *r) {
        char cur[PATH_MAX] = "/", rest[PATH_MAX], c[NAME_MAX + 1], cand[PATH_MAX];
        unsigned hops = 0;
        struct stat st;
        int k;

        if (strlen(w->path) >= sizeof rest)
                return -ENAMETOOLONG;
        strcpy(rest, w->path);
        while ((k = pop_component(rest, c)) > 0) {
                bool last = !rest[0];
                if (streq(c, "."))
                        continue;
                if (streq(c, "..")) {
                        parent_of(cur);
                        continue;
                }
                if (join(cand, cur, c) < 0)
                        return -ENAMETOOLONG;
                if (lstat(cand, &st) < 0) /* missing (or not searchable): watched for by name */
                        return route_add(r, cur, c, last ? ROLE_FILE : ROLE_PATH);
                if ((S_ISLNK(st.st_mode) || was_link(w, cand)) && (k = route_add(r, cur, c, ROLE_PATH)) < 0)
                        return k;
                if (S_ISLNK(st.st_mode)) {
                        k = follow_link(w, cur, rest, cand, &hops);
                        if (k <= 0)
                                return k;
                        continue;
                }
                if (last) {
                        r->id = (FileId) { true, st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_gid };
                        r->file = strdup(cand);
                        return r->file ? route_add(r, cur, c, ROLE_FILE) : -ENOMEM;
                }
                if (!S_ISDIR(st.st_mode)) /* a file where a directory is needed: watched until replaced */
                        return route_add(r, cur, c, ROLE_PATH);
                strcpy(cur, cand);
        }
        return k;
}

/* ---- events ----------------------------------------------------------- */

static void refresh_later(ValuesWatch *w);

static void note_name(ValuesWatch *w, const WatchDir *d, const WatchName *n, uint32_t mask) {
        Hints *h = &w->hints;
        char p[PATH_MAX];
        struct stat st;
        bool link = (mask & IN_CREATE) && join(p, d->dir, n->name) >= 0 && lstat(p, &st) >= 0 && S_ISLNK(st.st_mode);

        if ((mask & IN_MOVED_TO) || link) {
                h->placed = !(n->roles & ROLE_FILE)    ? "re-pointed through"
                            : (mask & IN_MOVED_TO)      ? "renamed into place as"
                                                        : "made a symlink as";
                snprintf(h->placed_name, sizeof h->placed_name, "%s", n->name);
        } else if ((mask & IN_CREATE) && (n->roles & ROLE_FILE))
                h->created = true;
        else if (mask & (IN_CREATE | IN_MOVED_FROM | IN_DELETE))
                h->changed = true;
        if (n->roles & ROLE_FILE) {
                h->close |= !!(mask & IN_CLOSE_WRITE);
                h->modify |= !!(mask & IN_MODIFY);
                h->attrib |= !!(mask & IN_ATTRIB);
        }
}

static int on_dir_event(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        ValuesWatch *w = userdata;
        const WatchDir *d = NULL;

        if (ev->mask & IN_Q_OVERFLOW) {
                w->hints.overflow = true;
                refresh_later(w);
                return 0;
        }
        for (size_t i = 0; i < w->route.n_dirs && !d; i++)
                if (w->route.dirs[i].src == s)
                        d = &w->route.dirs[i];
        if (!d)
                return 0;
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) {
                log_debug("watched directory '%s' went away (0x%x): following", d->dir, ev->mask);
                w->hints.changed = true;
                refresh_later(w);
                return 0;
        }
        for (size_t k = 0; ev->len > 0 && k < d->n_names; k++)
                if (streq(d->names[k].name, ev->name)) {
                        note_name(w, d, &d->names[k], ev->mask);
                        refresh_later(w);
                }
        return 0;
}

static int on_inode_event(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        ValuesWatch *w = userdata;

        if (ev->mask & IN_Q_OVERFLOW)
                w->hints.overflow = true;
        w->hints.close |= !!(ev->mask & IN_CLOSE_WRITE);
        w->hints.modify |= !!(ev->mask & IN_MODIFY);
        w->hints.attrib |= !!(ev->mask & IN_ATTRIB);
        /* Moved or removed through some name: the names on the way say
         * whether it is still ours. */
        refresh_later(w);
        return 0;
}

/* ---- judging ------------------------------------------------------------ */

/* Same device, inode number and type. A file made anew may get the inode
 * number of the one just removed (ext4, XFS and tmpfs hand freed numbers
 * out again), so the events say the rest: renewed() below. */
static bool same_inode(const FileId *a, const FileId *b) {
        return a->exists && b->exists && a->dev == b->dev && a->ino == b->ino &&
               (a->mode & S_IFMT) == (b->mode & S_IFMT);
}

/* Its last name was made anew since the last look (or events were lost):
 * whatever it names now is another file than before, whatever its inode
 * number, and the inode watch of the one before is dead. */
static bool renewed(const Hints *h) {
        return h->created || h->overflow;
}

/* The change the hints and the identity before (old) and now (new) make,
 * or -1 for none; why (n bytes) says why it is complete. */
static int judge(const FileId *old, const FileId *new, const Hints *h, char *why, size_t n) {
        const char *reason = NULL;
        int change = -1;

        if (h->overflow) {
                reason = "(the inotify queue overflowed: events were lost, treating it as an edit)";
                change = VALUES_COMPLETE;
        } else if (!new->exists) {
                if (h->placed) /* a symlink made to nothing: final all the same */
                        change = VALUES_COMPLETE;
                else if (old->exists)
                        change = VALUES_UNSURE;
        } else if (h->close) {
                reason = "closed after writing";
                change = VALUES_COMPLETE;
        } else if (same_inode(old, new) && !renewed(h)) {
                if (h->modify)
                        change = VALUES_WRITING;
                else if (h->attrib && (old->mode != new->mode || old->uid != new->uid || old->gid != new->gid)) {
                        reason = "changed mode or owner";
                        change = VALUES_COMPLETE;
                }
        } else if (h->placed) /* another file than before, put there whole */
                change = VALUES_COMPLETE;
        else if (!S_ISREG(new->mode)) { /* nothing to wait for: the pass says what it is */
                reason = "replaced by something that is not a regular file";
                change = VALUES_COMPLETE;
        } else
                change = h->created || h->modify ? VALUES_WRITING : VALUES_UNSURE;
        if (reason)
                snprintf(why, n, "%s", reason);
        else if (h->placed)
                snprintf(why, n, "%s '%s'", h->placed, h->placed_name);
        else
                snprintf(why, n, "%s", "");
        return change;
}

/* ---- watching a route ----------------------------------------------------- */

static bool route_same(const Route *a, const Route *b) {
        if (a->n_dirs != b->n_dirs || !a->file != !b->file || (a->file && !streq(a->file, b->file)) ||
            a->id.exists != b->id.exists || (a->id.exists && !same_inode(&a->id, &b->id)))
                return false;
        for (size_t i = 0; i < a->n_dirs; i++) {
                const WatchDir *x = &a->dirs[i], *y = &b->dirs[i];
                if (!streq(x->dir, y->dir) || x->dev != y->dev || x->ino != y->ino || x->n_names != y->n_names)
                        return false;
                for (size_t k = 0; k < x->n_names; k++)
                        if (!streq(x->names[k].name, y->names[k].name) || x->names[k].roles != y->names[k].roles)
                                return false;
        }
        return true;
}

static void route_watch(ValuesWatch *w, Route *r) {
        int k;

        for (size_t i = 0; i < r->n_dirs; i++) {
                WatchDir *d = &r->dirs[i];
                k = sd_event_add_inotify(w->event, &d->src, d->dir, DIR_EVENTS, on_dir_event, w);
                if (k < 0)
                        log_warning_errno(k, "Cannot watch '%s': %s; a change there is seen only on SIGHUP or at the "
                                          "next resync", d->dir, STRERROR(k));
                else
                        log_debug("watching '%s' for '%s'%s", d->dir, d->names[0].name,
                                  d->n_names > 1 ? " and more" : "");
        }
        if (!r->file || !S_ISREG(r->id.mode))
                return;
        k = sd_event_add_inotify(w->event, &r->inode, r->file, INODE_EVENTS, on_inode_event, w);
        if (k < 0) /* e.g. not readable by us: then the pass cannot read it either */
                log_debug("cannot watch the inode of '%s' (%s): a write through another link is not seen", r->file,
                          STRERROR(k));
}

/* The file as the path reaches it now, against the route just watched:
 * a change between the look and the watch would have no event. */
static bool route_moved(const ValuesWatch *w) {
        struct stat st;
        FileId now = { 0 };

        if (stat(w->path, &st) >= 0)
                now = (FileId) { true, st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_gid };
        return now.exists != w->route.id.exists || (now.exists && !same_inode(&now, &w->route.id));
}

/* Resolves again; a route unchanged keeps its sources (no event lost),
 * a new one is watched before the old one goes. A file renewed loses its
 * inode watch first: sd-event shares one watch per device and inode
 * number, and the one of a file removed is dead (or about to be), so the
 * new file sharing its number must get a watch of its own. Returns the
 * identity the file had before in *ret_old. */
static int route_refresh(ValuesWatch *w, bool renew, FileId *ret_old) {
        Route r = { 0 };
        int k;

        *ret_old = w->route.id;
        k = route_resolve(w, &r);
        if (k == -ENOMEM) {
                route_clear(&r);
                return k;
        }
        if (k < 0)
                log_debug("resolving '%s' stopped: %s", w->path, STRERROR(k));
        if (!renew && route_same(&r, &w->route)) {
                w->route.id = r.id;
                route_clear(&r);
                return 0;
        }
        if (renew)
                w->route.inode = sd_event_source_disable_unref(w->route.inode);
        route_watch(w, &r);
        route_clear(&w->route);
        w->route = r;
        if (route_moved(w)) {
                w->hints.changed = true;
                refresh_later(w);
        }
        return 0;
}

/* Resolves the path again and watches it anew, judging nothing. */
static int values_watch_refresh(ValuesWatch *w) {
        FileId old;

        return route_refresh(w, true, &old);
}

static int on_refresh(sd_event_source *s, uint64_t usec, void *userdata) {
        ValuesWatch *w = userdata;
        Hints h = w->hints;
        char why[NAME_MAX + 128];
        FileId old;
        int change;

        w->refresh = sd_event_source_disable_unref(w->refresh);
        w->hints = (Hints) { 0 };
        if (route_refresh(w, renewed(&h), &old) < 0) {
                log_warning("Out of memory while following '%s': treating it as an edit", w->path);
                h.overflow = true;
        }
        change = judge(&old, &w->route.id, &h, why, sizeof why);
        if (change == VALUES_COMPLETE)
                log_debug("edit complete: '%s' %s", w->path, why);
        else if (change >= 0)
                log_debug("edit %s: '%s'", change == VALUES_WRITING ? "in progress" : "of unknown completeness",
                          w->path);
        if (change >= 0)
                w->edit(change, w->userdata);
        return 0;
}

/* REFRESH_USEC after the first event, after the inotify sources: the
 * events of one write are judged together (see the top of this file). */
static void refresh_later(ValuesWatch *w) {
        if (w->refresh)
                return;
        if (sd_event_add_time_relative(w->event, &w->refresh, CLOCK_MONOTONIC, REFRESH_USEC, 1, on_refresh, w) < 0 ||
            sd_event_source_set_priority(w->refresh, SD_EVENT_PRIORITY_IDLE) < 0) {
                w->refresh = sd_event_source_disable_unref(w->refresh);
                log_warning("Out of memory while following '%s': treating it as an edit", w->path);
                w->edit(VALUES_COMPLETE, w->userdata);
        }
}

/* Watches path (made absolute); edit is called from the loop, never from
 * inside this call. Only -ENOMEM fails. */
static int values_watch_new(sd_event *event, const char *path, ValuesEdit edit, void *userdata, ValuesWatch **ret) {
        ValuesWatch *w = calloc(1, sizeof *w);
        int r;

        if (!w)
                return -ENOMEM;
        *w = (ValuesWatch) { .event = sd_event_ref(event), .path = path_absolute(path), .edit = edit, .userdata = userdata };
        r = w->path ? values_watch_refresh(w) : -ENOMEM;
        if (r < 0) {
                values_watch_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

/* ---- the candidates --------------------------------------------------------------- */

#define MAX_CANDIDATES 4

typedef struct Candidate {
        ValuesSearch *search;
        const char *path;
        ValuesWatch *watch;
} Candidate;

struct ValuesSearch {
        Candidate c[MAX_CANDIDATES];
        size_t n;
        int current; /* index in c, or -1: none exists */
        ValuesEdit edit;
        ValuesSwitched switched;
        void *userdata;
};

static int first_existing(const ValuesSearch *s) {
        struct stat st;

        for (size_t i = 0; i < s->n; i++)
                if (lstat(s->c[i].path, &st) >= 0)
                        return (int) i;
        return -1;
}

/* An edit of the file in use, or of a candidate before it that is there
 * now (it takes over at the pass: values_search_resolve()). A candidate
 * that went, or came back, is judged only when the pass comes: whoever
 * writes it may be swapping it, and the daemon waits for that to settle. */
static void on_candidate(ValuesChange change, void *userdata) {
        Candidate *c = userdata;
        ValuesSearch *s = c->search;
        int i = (int) (c - s->c);
        struct stat st;

        if (i == s->current)
                s->edit(change, s->userdata);
        else if ((s->current < 0 || i < s->current) && lstat(c->path, &st) >= 0)
                s->edit(change == VALUES_WRITING ? VALUES_WRITING : VALUES_COMPLETE, s->userdata);
}

ValuesSearch *values_search_free(ValuesSearch *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n; i++)
                values_watch_free(s->c[i].watch);
        free(s);
        return NULL;
}

int values_search_new(sd_event *event, const char *const *candidates, ValuesEdit edit, ValuesSwitched switched,
                      void *userdata, ValuesSearch **ret) {
        ValuesSearch *s = calloc(1, sizeof *s);
        int r = 0;

        assert(event);
        assert(candidates);
        assert(edit);
        assert(switched);
        assert(ret);

        if (!s)
                return -ENOMEM;
        *s = (ValuesSearch) { .edit = edit, .switched = switched, .userdata = userdata };
        for (size_t i = 0; candidates[i] && r >= 0; i++) {
                if (s->n >= MAX_CANDIDATES) {
                        r = -E2BIG;
                        break;
                }
                s->c[s->n] = (Candidate) { .search = s, .path = candidates[i] };
                r = values_watch_new(event, candidates[i], on_candidate, &s->c[s->n], &s->c[s->n].watch);
                if (r >= 0)
                        s->n++;
        }
        if (r < 0 || s->n == 0) {
                values_search_free(s);
                return r < 0 ? r : -EINVAL;
        }
        s->current = first_existing(s);
        *ret = s;
        return 0;
}

const char *values_search_current(const ValuesSearch *s) {
        assert(s);

        return s->current >= 0 ? s->c[s->current].path : NULL;
}

const char *values_search_resolve(ValuesSearch *s) {
        int now, before;

        assert(s);

        now = first_existing(s);
        before = s->current;
        if (now != before) {
                s->current = now;
                s->switched(now >= 0 ? s->c[now].path : NULL, before >= 0 ? s->c[before].path : NULL, s->userdata);
        }
        return values_search_current(s);
}

int values_search_refresh(ValuesSearch *s) {
        int r = 0;

        assert(s);

        for (size_t i = 0; i < s->n; i++) {
                int k = values_watch_refresh(s->c[i].watch);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}
