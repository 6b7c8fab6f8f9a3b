/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An exclusive lock on a directory, so that two processes never write the
 * same state at once: flock(2) on DIR/lock, which holds the PID and the
 * verb of the holder so that the one refused can say who has it. The lock
 * goes with the process (close or exit), even after a crash.
 */
#pragma once

#include <sys/types.h>

/* Takes the lock without waiting. Returns the locked fd (keep it open), or
 * -EBUSY with *ret_holder (malloc'ed, may be NULL) describing the holder,
 * or another negative errno. who: e.g. "nap-agent run". */
int lock_dir(const char *dir, const char *who, char **ret_holder);
/* Who holds the lock of dir, without touching it (taking even a shared
 * lock for a moment could make a starting writer fail): from /proc/locks.
 * Returns 1 with *ret_pid when a process holds it, 0 when none does (or
 * there is no lock file), or a negative errno. */
int lock_dir_holder(const char *dir, pid_t *ret_pid);
