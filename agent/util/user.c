/* SPDX-License-Identifier: Apache-2.0 */
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/user.h"

/* The account's name, into buf; false when there is none. */
static bool lookup(uid_t uid, char *buf, size_t size) {
        char scratch[1024];
        struct passwd pw, *found = NULL;

        if (getpwuid_r(uid, &pw, scratch, sizeof scratch, &found) != 0 || !found || !found->pw_name)
                return false;
        snprintf(buf, size, "%s", found->pw_name);
        return true;
}

char *user_describe(uid_t uid) {
        char name[256], *s;

        if (!lookup(uid, name, sizeof name))
                return asprintf(&s, "uid %u", (unsigned) uid) < 0 ? NULL : s;
        return asprintf(&s, "'%s' (uid %u)", name, (unsigned) uid) < 0 ? NULL : s;
}

char *user_name(uid_t uid) {
        char name[256], *s;

        if (!lookup(uid, name, sizeof name))
                return asprintf(&s, "%u", (unsigned) uid) < 0 ? NULL : s;
        return strdup(name);
}
