/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
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
