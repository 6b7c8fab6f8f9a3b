/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/user.h"
#include "util/macro.h"

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -1;

        assert(path);
        assert(ret);

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        return read_full_fd(fd, max, ret, ret_len);
}

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, allocated = 0;

        assert(fd >= 0);
        assert(ret);

        for (;;) {
                if (len + 4096 + 1 > allocated) {
                        size_t n = allocated ? allocated * 2 : 8192;
                        char *p = realloc(buf, n);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = n;
                }
                ssize_t k = read(fd, buf + len, allocated - len - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                len += (size_t) k;
                if (len > max)
                        return -EFBIG;
        }

        buf[len] = 0;
        if (ret_len)
                *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}

char *path_dirname(const char *path) {
        const char *slash;

        assert(path);

        slash = strrchr(path, '/');
        if (!slash)
                return strdup(".");
        if (slash == path)
                return strdup("/");
        return strndup(path, (size_t) (slash - path));
}

const char *path_basename(const char *path) {
        const char *slash;

        assert(path);

        slash = strrchr(path, '/');
        return slash ? slash + 1 : path;
}

char *path_absolute(const char *path) {
        char cwd[PATH_MAX], *p;

        assert(path);

        if (path[0] == '/')
                return strdup(path);
        if (!getcwd(cwd, sizeof cwd) || asprintf(&p, "%s/%s", cwd, path) < 0)
                return NULL;
        return p;
}

static int fsync_directory_of(const char *path) {
        _cleanup_free_ char *dir = path_dirname(path);
        _cleanup_close_ int fd = -1;

        if (!dir)
                return -ENOMEM;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fsync(fd) < 0)
                return negative_errno();
        return 0;
}

static int write_all(int fd, const char *p, size_t len) {
        while (len > 0) {
                ssize_t k = write(fd, p, len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += k;
                len -= (size_t) k;
        }
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, unsigned flags) {
        _cleanup_free_ char *dir = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        bool have_st = false;
        int r;

        assert(path);
        assert(data || len == 0);

        dir = path_dirname(path);
        if (!dir)
                return -ENOMEM;
        if ((flags & WRITE_KEEP_OWNER) && stat(path, &st) >= 0)
                have_st = true;
        if (asprintf(&tmp, "%s/.#%s.XXXXXX", dir, path_basename(path)) < 0)
                return -ENOMEM;

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return negative_errno();

        r = write_all(fd, data, len);
        if (r >= 0 && fchmod(fd, have_st ? (st.st_mode & 07777) : mode) < 0)
                r = negative_errno();
        if (r >= 0 && have_st && fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM)
                r = negative_errno();
        if (r >= 0 && !(flags & WRITE_NO_SYNC) && fsync(fd) < 0)
                r = negative_errno();
        /* Closed before the rename: a close after it would reach a watcher
         * (the daemon's inotify) as a second write of path itself. */
        if (close(TAKE_FD(fd)) < 0 && r >= 0)
                r = negative_errno();
        if (r >= 0 && rename(tmp, path) < 0)
                r = negative_errno();
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        return flags & WRITE_NO_SYNC ? 0 : fsync_directory_of(path);
}

int fs_check_private(const char *what, const char *path, const struct stat *st, bool check_owner, mode_t fix_mode,
                     char **ret_message) {
        _cleanup_free_ char *owner = NULL, *owner_name = NULL, *me = NULL, *me_name = NULL;
        uid_t uid = geteuid();
        int r;

        assert(what);
        assert(path);
        assert(st);
        assert(ret_message);

        *ret_message = NULL;
        if (st->st_mode & (S_IWGRP | S_IWOTH)) {
                r = asprintf(ret_message, "%s '%s' is writable by %s (mode %04o): whoever can write it could make "
                             "nap-agent delete objects in the cluster; fix: chmod %04o '%s'", what, path,
                             (st->st_mode & S_IWOTH) ? "every user" : "its group",
                             (unsigned) (st->st_mode & 07777), (unsigned) fix_mode, path);
                return r < 0 ? -ENOMEM : -EPERM;
        }
        if (!check_owner || st->st_uid == uid || st->st_uid == 0)
                return 0;
        owner = user_describe(st->st_uid);
        owner_name = user_name(st->st_uid);
        me = user_describe(uid);
        me_name = user_name(uid);
        if (!owner || !owner_name || !me || !me_name)
                return -ENOMEM;
        r = asprintf(ret_message, "%s '%s' is owned by %s, but nap-agent runs as %s and writes only where it or "
                     "root is the owner (whoever owns it could make nap-agent delete objects in the cluster); fix: "
                     "run nap-agent as that user (e.g. runuser -u %s -- nap-agent ...), or chown %s%s '%s'", what,
                     path, owner, me, owner_name, S_ISDIR(st->st_mode) ? "-R " : "", me_name, path);
        return r < 0 ? -ENOMEM : -EPERM;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;

        assert(path);

        p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return negative_errno();
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return negative_errno();
        return 0;
}

