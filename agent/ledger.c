/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledger-internal.h"
#include "ledger.h"
#include "util/fs.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/user.h"

#define LEDGER_MAX_BYTES (16 * 1024 * 1024)

void ledger_now(char *buf, size_t size) {
        struct timespec ts;
        struct tm tm;

        assert(buf);
        assert(size > 0);

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void ledger_hmac(const Ledger *l, const void *data, size_t len, char ret[LEDGER_DIGEST_HEX]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        assert(l);
        assert(data || len == 0);
        assert(ret);

        HMAC(EVP_sha256(), l->key, sizeof l->key, data, len, md, &n);
        hex_encode(md, 32, ret);
}

/* Why what (at path) cannot be read, for a message that names the file
 * and the user: the usual cause is a verb run as another user than the
 * state directory's owner. */
static char *read_failure(const Ledger *l, const char *what, const char *path, int error) {
        _cleanup_free_ char *me = user_describe(geteuid()), *owner = NULL;
        struct stat st;
        char *s;

        if (error == -EACCES && stat(l->dir, &st) >= 0 && st.st_uid != 0)
                owner = user_describe(st.st_uid);
        if (asprintf(&s, "cannot read the %s '%s' as %s: %s%s%s%s%s", what, path, me ? me : "this user",
                     error == -ELOOP ? "it is a symbolic link" : STRERROR(error),
                     error == -EACCES ? "; run nap-agent as " : "",
                     owner ? "the state directory's owner, " : "", owner ? owner : "",
                     error != -EACCES ? "" : owner ? ", or as root" : "root") < 0)
                return NULL;
        return s;
}

/* Opens one of the ledger's files: -ENOENT when it is missing; otherwise
 * a file another user could have written, or one that cannot be read, is
 * refused with *ret_message naming it (and the user). */
static int open_private(const Ledger *l, const char *what, const char *path, int *ret_fd, char **ret_message) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0 && errno == ENOENT)
                return -ENOENT;
        if (fd < 0 || fstat(fd, &st) < 0) {
                r = negative_errno();
                *ret_message = read_failure(l, what, path, r);
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                if (asprintf(ret_message, "the %s '%s' is not a regular file", what, path) < 0)
                        *ret_message = NULL;
                return -EBADF;
        }
        r = fs_check_private(what, path, &st, !l->read_only, 0600, ret_message);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Reads one of the ledger's files (see open_private), at most max bytes. */
static int read_private(const Ledger *l, const char *what, const char *path, size_t max, char **ret, size_t *ret_len,
                        char **ret_message) {
        _cleanup_close_ int fd = -1;
        int r;

        r = open_private(l, what, path, &fd, ret_message);
        if (r < 0)
                return r;
        r = read_full_fd(fd, max, ret, ret_len);
        if (r < 0 && r != -EFBIG)
                *ret_message = read_failure(l, what, path, r);
        return r;
}

/* Reads the per-host key, creating it (0600) on first use. */
static int load_key(Ledger *l, bool read_only, char **ret_message) {
        _cleanup_free_ char *path = NULL, *data = NULL;
        size_t len = 0;
        int r;

        if (asprintf(&path, "%s/ledger.key", l->dir) < 0)
                return -ENOMEM;
        r = read_private(l, "ledger key", path, 1024, &data, &len, ret_message);
        if (r >= 0 && len == sizeof l->key) {
                memcpy(l->key, data, sizeof l->key);
                explicit_bzero(data, len);
                return 0;
        }
        if (data)
                explicit_bzero(data, len);
        if ((r >= 0 || r == -EFBIG) &&
            asprintf(ret_message, "the ledger key '%s' is %s, not %zu bytes: it is damaged; remove it and "
                     "'%s' (nap-agent makes a new key and reads what it owns back from the cluster)",
                     path, r == -EFBIG ? "too large" : len < sizeof l->key ? "too short" : "too long",
                     sizeof l->key, l->path) < 0)
                *ret_message = NULL;
        if (r >= 0 || r == -EFBIG)
                return -EBADMSG;
        if (r != -ENOENT)
                return r; /* said why */
        if (RAND_bytes(l->key, sizeof l->key) != 1)
                return -EIO;
        /* Read-only without a key: an ephemeral one; no digest can match,
         * which is right, since there is no ledger either. */
        return read_only ? 0 : write_file_atomic(path, l->key, sizeof l->key, 0600, 0);
}

static void ledger_clear(Ledger *l) {
        for (size_t i = 0; i < l->n_objects; i++)
                ledger_object_done(&l->objects[i]);
        for (size_t i = 0; i < l->n_clients; i++)
                ledger_client_done(&l->clients[i]);
        free(l->objects);
        free(l->clients);
        free(l->last_time);
        free(l->last_result);
        free(l->last_message);
        cJSON_Delete(l->platform_keys);
        l->platform_keys = NULL;
        l->objects = NULL, l->clients = NULL;
        l->n_objects = l->n_clients = 0;
        l->last_time = l->last_result = l->last_message = NULL;
        l->generation = 0;
}

int ledger_parse(Ledger *l, const char *text) {
        assert(l);
        assert(text);

        ledger_clear(l);
        return ledger_json_parse(l, text);
}

/* Moves a ledger we cannot parse out of the way, keeping it for a human;
 * never over an earlier copy (two in the same second get .1, .2...). */
static int move_aside(Ledger *l, int error, char **ret_message) {
        char stamp[32], *aside = NULL;

        ledger_now(stamp, sizeof stamp);
        for (unsigned n = 0;; n++) {
                int r;

                free(aside);
                if ((n == 0 ? asprintf(&aside, "%s.corrupt-%s", l->path, stamp)
                            : asprintf(&aside, "%s.corrupt-%s.%u", l->path, stamp, n)) < 0)
                        return -ENOMEM;
                if (renameat2(AT_FDCWD, l->path, AT_FDCWD, aside, RENAME_NOREPLACE) >= 0)
                        break;
                r = negative_errno();
                if (r != -EEXIST || n >= 1000) {
                        free(aside);
                        return r;
                }
        }
        if (asprintf(ret_message, "ledger '%s' is unreadable (%s); moved it to '%s': what nap-agent owns is read "
                     "back from the cluster", l->path, STRERROR(error), aside) < 0)
                *ret_message = NULL;
        free(aside);
        return 0;
}

/* ledger.json, read and parsed into l: missing is an empty ledger to be
 * rebuilt; a corrupt one is moved aside (read-only: an error). */
static int load_ledger(Ledger *l, char **ret_message) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = read_private(l, "ledger", l->path, LEDGER_MAX_BYTES, &text, NULL, ret_message);
        if (r == -ENOENT) {
                l->rebuild = true;
                return 0;
        }
        if (r == -EFBIG)
                r = -EBADMSG;
        else if (r < 0)
                /* Not a damaged ledger but a failure to read it: moving it
                 * aside would lose what the agent owns, and reading it as
                 * empty would show (or plan) nothing of it. */
                return r;
        else {
                r = ledger_json_parse(l, text);
                if (r >= 0 || r == -EPROTONOSUPPORT || r == -ENOMEM)
                        return r;
        }
        ledger_clear(l);
        if (l->read_only) {
                if (asprintf(ret_message, "the ledger '%s' is corrupt (%s): nothing can be read from it; the next "
                             "`nap-agent apply` (or pass of the daemon) moves it aside and reads back from the "
                             "cluster what nap-agent owns", l->path, STRERROR(r)) < 0)
                        *ret_message = NULL;
                return -EBADMSG;
        }
        l->rebuild = true;
        int k = move_aside(l, r, ret_message);
        if (k < 0 && asprintf(ret_message, "the ledger '%s' is corrupt (%s) and cannot be moved aside: %s", l->path,
                              STRERROR(r), STRERROR(k)) < 0)
                *ret_message = NULL;
        return k;
}

static int ledger_open_full(const char *dir, bool read_only, Ledger **ret, char **ret_message) {
        _cleanup_(ledger_freep) Ledger *l = NULL;
        _cleanup_free_ char *message = NULL;
        int r;

        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->read_only = read_only;
        l->dir = strdup(dir);
        if (!l->dir || asprintf(&l->path, "%s/ledger.json", dir) < 0)
                return -ENOMEM;
        r = read_only ? 0 : mkdir_p(dir, 0700);
        if (r >= 0)
                r = load_key(l, read_only, &message);
        if (r >= 0)
                r = load_ledger(l, &message);
        if (ret_message)
                *ret_message = TAKE_PTR(message);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

int ledger_open(const char *dir, Ledger **ret, char **ret_message) {
        assert(dir);
        assert(ret);

        return ledger_open_full(dir, false, ret, ret_message);
}

int ledger_open_read_only(const char *dir, Ledger **ret, char **ret_message) {
        assert(dir);
        assert(ret);

        return ledger_open_full(dir, true, ret, ret_message);
}

Ledger *ledger_free(Ledger *l) {
        if (!l)
                return NULL;
        ledger_clear(l);
        explicit_bzero(l->key, sizeof l->key);
        free(l->dir);
        free(l->path);
        free(l);
        return NULL;
}

static bool eq_opt(const char *a, const char *b) {
        return (!a && !b) || (a && b && streq(a, b));
}

LedgerObject *ledger_find_object(const Ledger *l, const char *kind, const char *namespace, const char *name) {
        assert(l);
        assert(kind);
        assert(name);

        for (size_t i = 0; i < l->n_objects; i++) {
                LedgerObject *o = &l->objects[i];
                if (streq(o->kind, kind) && streq(o->name, name) && eq_opt(o->namespace, namespace))
                        return o;
        }
        return NULL;
}

const char *ledger_platform_key(const Ledger *l, const char *name) {
        const cJSON *d;

        assert(l);
        assert(name);

        d = cJSON_GetObjectItemCaseSensitive(l->platform_keys, name);
        return cJSON_IsString(d) ? d->valuestring : NULL;
}

bool ledger_platform_keys_recorded(const Ledger *l) {
        assert(l);

        return l->platform_keys != NULL;
}

int ledger_record_platform_key(Ledger *l, const char *name, const char *digest) {
        cJSON *d;

        assert(l);
        assert(name);
        assert(digest);

        if (!l->platform_keys && !(l->platform_keys = cJSON_CreateObject()))
                return -ENOMEM;
        d = cJSON_CreateString(digest);
        if (!d)
                return -ENOMEM;
        cJSON_DeleteItemFromObjectCaseSensitive(l->platform_keys, name);
        if (!cJSON_AddItemToObject(l->platform_keys, name, d)) {
                cJSON_Delete(d);
                return -ENOMEM;
        }
        return 0;
}

LedgerClient *ledger_find_client(const Ledger *l, const char *id) {
        assert(l);
        assert(id);

        for (size_t i = 0; i < l->n_clients; i++)
                if (streq(l->clients[i].id, id))
                        return &l->clients[i];
        return NULL;
}

static int set_str(char **dst, const char *s) {
        char *c = NULL;

        if (s && !(c = strdup(s)))
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

int ledger_record_object(Ledger *l, const char *api_version, const char *kind, const char *namespace,
                         const char *name, const char *module, const char *digest, const char *resource_version,
                         const char *uid, cJSON *view) {
        LedgerObject *o;
        char now[32];

        assert(l);
        assert(kind);
        assert(name);
        assert(module);
        assert(digest);

        o = ledger_find_object(l, kind, namespace, name);
        if (!o) {
                LedgerObject *p = realloc(l->objects, (l->n_objects + 1) * sizeof *p);
                if (!p) {
                        cJSON_Delete(view);
                        return -ENOMEM;
                }
                l->objects = p;
                o = &l->objects[l->n_objects++];
                *o = (LedgerObject) { 0 };
        }
        ledger_now(now, sizeof now);
        snprintf(o->digest, sizeof o->digest, "%s", digest);
        cJSON_Delete(o->view);
        o->view = view;
        free(o->pending);
        o->pending = NULL;
        o->sealed = true; /* the agent's own record */
        if (set_str(&o->api_version, api_version) < 0 || set_str(&o->kind, kind) < 0 ||
            set_str(&o->namespace, namespace) < 0 || set_str(&o->name, name) < 0 || set_str(&o->module, module) < 0 ||
            set_str(&o->resource_version, resource_version) < 0 || set_str(&o->applied_at, now) < 0 ||
            (uid && set_str(&o->uid, uid) < 0))
                return -ENOMEM;
        return 0;
}

int ledger_record_client(Ledger *l, const char *id, const char *module, const char *name, const char *redirect_uri,
                         const char *digest, const LedgerDatabase *db) {
        LedgerClient *c;
        char now[32];

        assert(l);
        assert(id);
        assert(module);
        assert(digest);

        c = ledger_find_client(l, id);
        if (!c) {
                LedgerClient *p = realloc(l->clients, (l->n_clients + 1) * sizeof *p);
                if (!p)
                        return -ENOMEM;
                l->clients = p;
                c = &l->clients[l->n_clients++];
                *c = (LedgerClient) { 0 };
        }
        ledger_now(now, sizeof now);
        snprintf(c->digest, sizeof c->digest, "%s", digest);
        c->kept = false;
        if (set_str(&c->id, id) < 0 || set_str(&c->module, module) < 0 || set_str(&c->name, name) < 0 ||
            set_str(&c->redirect_uri, redirect_uri) < 0 || set_str(&c->applied_at, now) < 0 ||
            ledger_client_own_only(c, redirect_uri) < 0 || (db && ledger_database_copy(&c->database, db) < 0))
                return -ENOMEM;
        return 0;
}

int ledger_intend_object(Ledger *l, const char *api_version, const char *kind, const char *namespace,
                         const char *name, const char *module, const char *op, bool *ret_created) {
        LedgerObject *o;
        bool created;
        int r;

        assert(l);
        assert(kind);
        assert(name);
        assert(module);
        assert(op);

        o = ledger_find_object(l, kind, namespace, name);
        created = !o;
        if (!o) {
                r = ledger_record_object(l, api_version, kind, namespace, name, module, "", NULL, NULL, NULL);
                if (r < 0)
                        return r;
                o = ledger_find_object(l, kind, namespace, name);
        }
        r = set_str(&o->pending, op);
        if (r < 0)
                return r;
        if (ret_created)
                *ret_created = created;
        return 0;
}

int ledger_set_adopted_digest(Ledger *l, const char *kind, const char *namespace, const char *name,
                              const char *digest) {
        LedgerObject *o;

        assert(l);
        assert(kind);
        assert(name);

        o = ledger_find_object(l, kind, namespace, name);
        return o ? set_str(&o->adopted_digest, digest) : -ENOENT;
}

void ledger_abandon_intent(Ledger *l, const char *kind, const char *namespace, const char *name, bool created) {
        LedgerObject *o;

        assert(l);
        assert(kind);
        assert(name);

        o = ledger_find_object(l, kind, namespace, name);
        if (!o)
                return;
        if (created) {
                ledger_forget_object(l, kind, namespace, name);
                return;
        }
        free(o->pending);
        o->pending = NULL;
}

void ledger_forget_object(Ledger *l, const char *kind, const char *namespace, const char *name) {
        LedgerObject *o;
        size_t i;

        assert(l);
        assert(kind);
        assert(name);

        o = ledger_find_object(l, kind, namespace, name);
        if (!o)
                return;
        i = (size_t) (o - l->objects);
        ledger_object_done(o);
        memmove(o, o + 1, (l->n_objects - i - 1) * sizeof *o);
        l->n_objects--;
}

void ledger_forget_client(Ledger *l, const char *id) {
        LedgerClient *c;
        size_t i;

        assert(l);
        assert(id);

        c = ledger_find_client(l, id);
        if (!c)
                return;
        i = (size_t) (c - l->clients);
        ledger_client_done(c);
        memmove(c, c + 1, (l->n_clients - i - 1) * sizeof *c);
        l->n_clients--;
}

int ledger_set_last_pass(Ledger *l, bool ok, const char *message) {
        _cleanup_free_ char *clean = message ? redact(message) : NULL;
        char now[32];

        assert(l);

        if (message && !clean)
                return -ENOMEM;
        ledger_now(now, sizeof now);
        if (set_str(&l->last_time, now) < 0 || set_str(&l->last_result, ok ? "ok" : "error") < 0 ||
            set_str(&l->last_message, clean) < 0)
                return -ENOMEM;
        return 0;
}

int ledger_commit(Ledger *l) {
        assert(l);

        return ledger_save(l, true);
}

int ledger_save(Ledger *l, bool durable) {
        cJSON *j;
        char *text;
        int r;

        assert(l);

        if (l->read_only)
                return -EROFS;
        if (l->refused)
                return 0; /* never over the file the operator is to look at */
        j = ledger_json_format(l);
        if (!j)
                return -ENOMEM;
        text = cJSON_Print(j);
        cJSON_Delete(j);
        if (!text)
                return -ENOMEM;
        r = write_file_atomic(l->path, text, strlen(text), 0600, durable ? 0 : WRITE_NO_SYNC);
        free(text);
        return r;
}
