/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File helpers: read a whole file, and replace a file atomically (temp file
 * in the same directory, fsync, rename, fsync of the directory), so a crash
 * leaves either the old or the new content, never a mix.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Reads path into a NUL-terminated buffer; *ret_len excludes the NUL.
 * Returns 0, -ENOENT, -EFBIG (over max bytes) or another negative errno. */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* The same from an open file descriptor, read to its end. */
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len);

enum {
        WRITE_KEEP_OWNER = 1u << 0, /* path exists: keep its mode, owner and group */
        WRITE_NO_SYNC = 1u << 1,    /* no fsync: atomic against a crash of the process, not of the machine */
};

/* Atomically replaces path with data, creating it with mode. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, unsigned flags);

/* Whether st (of path, called what in the message, e.g. "state directory")
 * is something only its owner can write, like sshd's StrictModes: no write
 * permission for its group or others, and, with check_owner, owned by the
 * running (effective) user or by root. 0, or -EPERM with *ret_message
 * saying what is wrong, who is involved and the command that fixes it
 * (chmod to fix_mode, or chown). */
int fs_check_private(const char *what, const char *path, const struct stat *st, bool check_owner, mode_t fix_mode,
                     char **ret_message);

/* mkdir -p with mode for the directories it creates. */
int mkdir_p(const char *path, mode_t mode);

/* Directory part of path (malloc'ed; "." when there is none). */
char *path_dirname(const char *path);
/* Last component of path (points into path). */
const char *path_basename(const char *path);
/* path, made absolute against the working directory when it is not;
 * symlinks are not resolved (malloc'ed; NULL on failure). */
char *path_absolute(const char *path);
