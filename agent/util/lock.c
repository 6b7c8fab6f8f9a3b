/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/lock.h"
#include "util/macro.h"

/* What the holder wrote: "PID WHO". */
static char *read_holder(int fd) {
        char buf[256];
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

        if (n <= 0)
                return NULL;
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return strdup(buf);
}

int lock_dir(const char *dir, const char *who, char **ret_holder) {
        _cleanup_free_ char *path = NULL, *line = NULL;
        _cleanup_close_ int fd = -1;
        int n;

        assert(dir);
        assert(who);

        if (ret_holder)
                *ret_holder = NULL;
        if (asprintf(&path, "%s/lock", dir) < 0)
                return -ENOMEM;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return negative_errno();
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int r = negative_errno();
                if (r == -EWOULDBLOCK) {
                        if (ret_holder)
                                *ret_holder = read_holder(fd);
                        return -EBUSY;
                }
                return r;
        }
        n = asprintf(&line, "%ld %s\n", (long) getpid(), who);
        if (n < 0)
                return -ENOMEM;
        if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t) n, 0) != n)
                return negative_errno();
        return TAKE_FD(fd);
}

int lock_dir_holder(const char *dir, pid_t *ret_pid) {
        _cleanup_free_ char *path = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char line[256];
        struct stat st;

        assert(dir);
        assert(ret_pid);

        if (asprintf(&path, "%s/lock", dir) < 0)
                return -ENOMEM;
        if (stat(path, &st) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        f = fopen("/proc/locks", "re");
        if (!f)
                return negative_errno();
        /* "1: FLOCK  ADVISORY  WRITE 1234 fe:00:131 0 EOF"; waiters have "->". */
        while (fgets(line, sizeof line, f)) {
                char type[16];
                unsigned maj, min;
                unsigned long ino;
                int pid;

                if (strstr(line, "->") ||
                    sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%lu", type, &pid, &maj, &min, &ino) != 5)
                        continue;
                if (streq(type, "FLOCK") && maj == major(st.st_dev) && min == minor(st.st_dev) &&
                    ino == (unsigned long) st.st_ino) {
                        *ret_pid = (pid_t) pid;
                        return 1;
                }
        }
        return 0;
}
