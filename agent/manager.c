/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See manager.h: the state directory, its lock and the ledger in it, and
 * the connections to the API server and the database.
 */
#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube-config.h"
#include "manager.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/lock.h"
#include "util/log-messages.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/user.h"

#define DEFAULT_STATE_DIR "/var/lib/nap-agent"

struct Manager {
        ManagerOptions options;
        sd_event *event;
        int lock_fd;
        char *state_dir;
        Ledger *ledger;
        KubeClient *kube;
        char *kube_path; /* the kubeconfig kube was made from */
        KubeRequests requests; /* of the clients closed so far (the daemon's metrics) */
        OAuthDb *db;
        char *db_conninfo; /* what db was made from (may hold a password) */
        bool db_private;   /* db runs on its own loop (made by manager_db, for the synchronous verbs) */
        /* manager_db_target's answer for the last DATABASE_URL, known by its
         * SHA-256 (the text holds a password): libpq is not loaded again
         * just to parse the same string after an idle close. */
        uint8_t target_key[32];
        bool target_cached;
        LedgerDatabase target;
        char last_error[1024]; /* the last connection failure, one line, no secret */
        char *ledger_error;   /* why the ledger could not be opened, or NULL */
        bool kubeconfig_failed; /* ... which was: no kubeconfig that can be read */
};

/* *ret_message = the formatted text (NULL when out of memory); returns error. */
static int message_errno(char **ret_message, int error, const char *format, ...) _printf_(3, 4);
static int message_errno(char **ret_message, int error, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        if (vasprintf(ret_message, format, ap) < 0)
                *ret_message = NULL;
        va_end(ap);
        return error;
}

/* Like sshd's StrictModes: a state directory someone else can write is
 * refused (its ledger decides what gets deleted). A writer needs it to be
 * its own or root's, makes it 0700 when it is missing and tightens one it
 * owns that others may read (0755, made by hand or an installer); a reader
 * (status, plan, doctor) accepts any owner (root reads the service's). */
static int check_state_dir(Manager *m, bool writer, char **ret_message) {
        const char *dir = m->state_dir;
        struct stat st;
        int r;

        *ret_message = NULL;
        if (stat(dir, &st) < 0 && errno == ENOENT && writer && (r = mkdir_p(dir, 0700)) < 0)
                return message_errno(ret_message, r, "cannot create the state directory '%s': %s", dir, STRERROR(r));
        if (stat(dir, &st) < 0) {
                r = negative_errno();
                if (r == -ENOENT)
                        return 0; /* read-only: an empty ledger */
                return message_errno(ret_message, r, "cannot look at the state directory '%s': %s", dir, STRERROR(r));
        }
        if (!S_ISDIR(st.st_mode))
                return message_errno(ret_message, -ENOTDIR, "the state directory '%s' is not a directory", dir);
        r = fs_check_private("state directory", dir, &st, writer, 0700, ret_message);
        if (r < 0 || !writer || st.st_uid != geteuid() || (st.st_mode & 077) == 0)
                return r;
        if (chmod(dir, 0700) < 0) {
                r = negative_errno();
                return message_errno(ret_message, r, "cannot make the state directory '%s' private (chmod 0700): %s",
                                     dir, STRERROR(r));
        }
        log_notice("made the state directory '%s' private: mode %04o -> 0700", dir, (unsigned) (st.st_mode & 07777));
        return 0;
}

static int open_ledger(Manager *m, Ledger **ret) {
        _cleanup_free_ char *message = NULL;
        int r;

        free(m->ledger_error);
        m->ledger_error = NULL;
        r = check_state_dir(m, !m->options.read_only, &message);
        if (r >= 0) {
                free(message);
                message = NULL;
                r = m->options.read_only ? ledger_open_read_only(m->state_dir, ret, &message)
                                         : ledger_open(m->state_dir, ret, &message);
        }
        if (r == -EPROTONOSUPPORT) {
                free(message);
                if (asprintf(&message, "the ledger in '%s' was written by a newer nap-agent; refusing to touch it",
                             m->state_dir) < 0)
                        message = NULL;
        }
        if (r < 0 && !message && asprintf(&message, "cannot open the ledger in '%s': %s", m->state_dir,
                                          STRERROR(r)) < 0)
                message = NULL;
        if (r < 0) {
                m->ledger_error = TAKE_PTR(message);
                if (m->options.ledger_reported)
                        return r;
                return log_error_errno(r, "%s", m->ledger_error ? m->ledger_error : STRERROR(r));
        }
        if (message)
                log_warning("%s", message);
        return 0;
}

/* The state directory is one writer's: a second `run` or an `apply` beside
 * the daemon would double every write and move the generation backwards. */
static int take_lock(Manager *m) {
        _cleanup_free_ char *holder = NULL, *message = NULL;
        int r;

        r = check_state_dir(m, true, &message);
        if (r < 0)
                return log_error_errno(r, "%s", message ? message : STRERROR(r));
        r = lock_dir(m->state_dir, m->options.lock_as, &holder);
        if (r == -EBUSY)
                return log_error_errno(r, "The state directory '%s' is in use by another nap-agent (%s%s); not "
                                       "starting a second writer", m->state_dir, holder ? "PID " : "",
                                       holder ? holder : "holder unknown");
        if (r < 0) {
                _cleanup_free_ char *me = user_describe(geteuid());
                return log_error_errno(r, "Failed to lock the state directory '%s' as %s: %s", m->state_dir,
                                       me ? me : "this user", STRERROR(r));
        }
        m->lock_fd = r;
        return 0;
}

const char *manager_state_dir_of(const ManagerOptions *opts) {
        const char *dir;

        assert(opts);

        dir = opts->state_dir ? opts->state_dir : getenv("STATE_DIRECTORY");
        if (dir && strchr(dir, ':')) /* systemd lists several as a:b */
                dir = NULL;
        return dir ? dir : DEFAULT_STATE_DIR;
}

int manager_new(const ManagerOptions *opts, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        const char *dir;
        int r;

        assert(opts);
        assert(ret);

        m = calloc(1, sizeof *m);
        if (!m)
                return log_error_errno(ENOMEM, "Out of memory");
        m->lock_fd = -1;
        m->options = *opts;
        dir = manager_state_dir_of(opts);
        m->state_dir = strdup(dir);
        if (!m->state_dir)
                return log_error_errno(ENOMEM, "Out of memory");
        if (opts->event)
                m->event = sd_event_ref(opts->event);
        else if ((r = sd_event_new(&m->event)) < 0)
                return log_error_errno(r, "Failed to create an event loop: %s", STRERROR(r));
        if (opts->lock_as && !opts->read_only && (r = take_lock(m)) < 0)
                return r;
        if (!opts->ledger_reported && (r = open_ledger(m, &m->ledger)) < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

/* Frees the API server's client, keeping its counts. */
static void drop_kube(Manager *m) {
        if (m->kube)
                kube_requests_add(&m->requests, kube_client_requests(m->kube));
        m->kube = kube_client_free(m->kube);
}

void manager_kube_requests(const Manager *m, KubeRequests *ret) {
        assert(m);
        assert(ret);

        *ret = m->requests;
        if (m->kube)
                kube_requests_add(ret, kube_client_requests(m->kube));
}

static void close_connections(Manager *m) {
        drop_kube(m);
        m->db = oauth_db_free(m->db);
        free(m->kube_path);
        m->kube_path = NULL;
        if (m->db_conninfo)
                explicit_bzero(m->db_conninfo, strlen(m->db_conninfo));
        free(m->db_conninfo);
        m->db_conninfo = NULL;
}

void manager_idle(Manager *m) {
        assert(m);

        close_connections(m);
        if (m->ledger && !m->options.read_only && ledger_commit(m->ledger) < 0)
                return; /* keep what could not be saved */
        m->ledger = ledger_free(m->ledger);
}

int manager_ledger(Manager *m, Ledger **ret) {
        int r;

        assert(m);
        assert(ret);

        /* A refused ledger is read again: the operator may have fixed the file. */
        if (m->ledger && m->ledger->refused)
                m->ledger = ledger_free(m->ledger);
        r = m->ledger ? 0 : open_ledger(m, &m->ledger);

        if (r >= 0)
                *ret = m->ledger;
        return r;
}

Ledger *manager_ledger_loaded(const Manager *m) {
        assert(m);

        return m->ledger;
}

const char *manager_ledger_error(const Manager *m) {
        assert(m);

        return m->ledger_error;
}

ManagerOptions *manager_options(Manager *m) {
        assert(m);

        return &m->options;
}

sd_event *manager_event(const Manager *m) {
        assert(m);

        return m->event;
}

const char *manager_state_dir(const Manager *m) {
        assert(m);

        return m->state_dir;
}

bool manager_kubeconfig_failed(const Manager *m) {
        assert(m);

        return m->kubeconfig_failed;
}

const char *manager_last_error(const Manager *m) {
        assert(m);

        return m->last_error;
}

void manager_clear_error(Manager *m) {
        assert(m);

        m->last_error[0] = 0;
        m->kubeconfig_failed = false;
}

bool manager_connected(const Manager *m) {
        assert(m);

        return m->kube;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        close_connections(m);
        ledger_database_clear(&m->target);
        ledger_free(m->ledger);
        free(m->ledger_error);
        free(m->state_dir);
        sd_event_unref(m->event);
        if (m->lock_fd >= 0)
                close(m->lock_fd);
        free(m);
        return NULL;
}

int manager_reload(Manager *m) {
        Ledger *l = NULL;
        int r;

        assert(m);

        close_connections(m);
        r = open_ledger(m, &l);
        if (r < 0)
                return r;
        ledger_free(m->ledger);
        m->ledger = l;
        return 0;
}

static int manager_vfail(Manager *m, const char *message_id, int error, const char *format, va_list ap)
        _printf_(4, 0);
static int manager_vfail(Manager *m, const char *message_id, int error, const char *format, va_list ap) {
        vsnprintf(m->last_error, sizeof m->last_error, format, ap);
        return log_struct(LOG_ERR, error, LOG_FIELDS(.message_id = message_id), "%s", m->last_error);
}

int manager_fail(Manager *m, int error, const char *format, ...) {
        va_list ap;
        int r;

        assert(m);
        assert(format);

        va_start(ap, format);
        r = manager_vfail(m, NULL, error, format, ap);
        va_end(ap);
        return r;
}

/* manager_fail() of an event an operator acts on (util/log-messages.h). */
static int manager_fail_event(Manager *m, const char *message_id, int error, const char *format, ...) _printf_(4, 5);
static int manager_fail_event(Manager *m, const char *message_id, int error, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = manager_vfail(m, message_id, error, format, ap);
        va_end(ap);
        return r;
}

/* ---- connections ------------------------------------------------------- */

/* The kubeconfig for c; *ret_skipped names a KUBECONFIG of values.env that
 * does not exist (and was passed over). -ENOENT: none found. */
static int locate_kubeconfig(Manager *m, const Config *c, char **ret, char **ret_skipped) {
        _cleanup_free_ char *dir = path_dirname(m->options.values_path);

        if (!dir)
                return -ENOMEM;
        return kube_config_locate(m->options.kubeconfig, config_get(c, "KUBECONFIG"), dir, ret, ret_skipped);
}

/* No kubeconfig to be had: one line naming every place looked at and what
 * fixes it. Under systemd (credentials handed in), the drop-in; a retry
 * cannot help, the daemon waits for SIGHUP or the next edit. */
static int kubeconfig_missing(Manager *m, int error, const Config *c) {
        _cleanup_free_ char *dir = path_dirname(m->options.values_path), *tried = NULL;
        bool service = !strempty(getenv("CREDENTIALS_DIRECTORY"));

        if (!dir || kube_config_describe_search(config_get(c, "KUBECONFIG"), dir, &tried) < 0)
                return manager_fail(m, ENOMEM, "Out of memory");
        m->kubeconfig_failed = true;
        if (service)
                return manager_fail(m, error, "No kubeconfig nap-agent can read (%s): hand one in with a drop-in, "
                                    "`systemctl edit nap-agent`: [Service] LoadCredential=kubeconfig:/path/to/kubeconfig, "
                                    "then `systemctl restart nap-agent`; nothing is applied until then", tried);
        return manager_fail(m, error, "No kubeconfig found (%s): pass --kubeconfig or set KUBECONFIG (in the "
                            "environment or in values.env)", tried);
}

int manager_kube(Manager *m, const Config *c, KubeClient **ret) {
        _cleanup_free_ char *path = NULL, *skipped = NULL;
        KubeError err = { 0 };
        int r;

        assert(m);
        assert(c);
        assert(ret);

        r = locate_kubeconfig(m, c, &path, &skipped);
        if (r == -ENOENT)
                return kubeconfig_missing(m, r, c);
        if (r < 0)
                return manager_fail_event(m, NAP_MESSAGE_KUBECONFIG_MISSING, r,
                                          "Failed to find the kubeconfig: %s", STRERROR(r));
        if (m->kube && m->kube_path && streq(m->kube_path, path)) {
                *ret = m->kube;
                return 0;
        }
        if (skipped)
                log_warning("KUBECONFIG in values.env names '%s', which %s, ignoring", skipped,
                            access(skipped, F_OK) < 0 ? "does not exist" : "this user cannot read");
        drop_kube(m);
        free(m->kube_path);
        m->kube_path = NULL;
        r = kube_client_new(path, &m->options.kube_options, m->event, &m->kube, &err);
        m->kubeconfig_failed = r == -ENOENT || r == -EACCES; /* a file, not a server: retrying cannot help */
        if (r < 0)
                return manager_fail_event(m, NAP_MESSAGE_KUBECONFIG_MISSING, r, "Failed to load kubeconfig '%s': %s",
                                          path, err.message);
        m->kube_path = TAKE_PTR(path);
        *ret = m->kube;
        return 0;
}

int manager_kubeconfig_path(Manager *m, const Config *c, char **ret) {
        _cleanup_free_ char *skipped = NULL;

        assert(m);
        assert(c || m->kube_path);
        assert(ret);

        if (m->kube_path)
                return (*ret = strdup(m->kube_path)) ? 0 : -ENOMEM;
        return locate_kubeconfig(m, c, ret, &skipped);
}

int manager_kube_client_new(Manager *m, const Config *c, unsigned max_connections, KubeClient **ret, KubeError *err) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };
        _cleanup_(config_freep) Config *loaded = NULL;
        _cleanup_free_ char *path = NULL;
        KubeClientOptions o;
        int r;

        assert(m);
        assert(ret);

        o = m->options.kube_options;

        /* No pass needed the API server yet: values.env names the
         * kubeconfig (its diagnostics were logged by the pass). */
        if (!c && !m->kube_path) {
                r = config_load(m->options.values_path, &loaded, &d);
                if (r >= 0 && diag_has_errors(&d))
                        r = -EINVAL;
                if (r < 0)
                        return kube_error_setf(err, r, "'%s' cannot be read", m->options.values_path);
                c = loaded;
        }
        r = manager_kubeconfig_path(m, c, &path);
        if (r < 0)
                return kube_error_setf(err, r, "no kubeconfig found");
        o.max_connections = max_connections;
        return kube_client_new(path, &o, m->event, ret, err);
}

int manager_db_conninfo(const Config *c, char **ret) {
        const char *url = getenv("DATABASE_URL");

        assert(c);
        assert(ret);

        if (strempty(url))
                url = config_get(c, "DATABASE_URL");
        if (strempty(url)) {
                *ret = NULL;
                return 0;
        }
        return (*ret = strdup(url)) ? 0 : -ENOMEM;
}

char *manager_db_conninfo_for_host(const Config *c, const char *host) {
        assert(c);
        assert(host);

        return oauth_conninfo_build(config_get(c, "PG_USERNAME"), config_get(c, "PG_PASSWORD"), host, 5432,
                                    config_get(c, "DB_NAME"));
}

/* A failure is logged as "<what>: <why>". */
static int db_make(Manager *m, const char *conninfo, bool private_loop, const char *what, OAuthDb **ret) {
        OAuthError err = { 0 };
        int r;

        if (m->db && m->db_conninfo && streq(m->db_conninfo, conninfo) && m->db_private == private_loop) {
                *ret = m->db;
                return 0;
        }
        m->db = oauth_db_free(m->db);
        if (m->db_conninfo)
                explicit_bzero(m->db_conninfo, strlen(m->db_conninfo));
        free(m->db_conninfo);
        m->db_conninfo = NULL;
        m->db_private = private_loop;
        r = private_loop ? oauth_db_connect(conninfo, &m->options.oauth_options, &m->db, &err)
                         : oauth_db_new(conninfo, &m->options.oauth_options, m->event, &m->db, &err);
        if (r < 0)
                return manager_fail_event(m, NAP_MESSAGE_DATABASE_UNREACHABLE, r,
                                          "%s: %s", what, err.message);
        m->db_conninfo = strdup(conninfo);
        if (!m->db_conninfo) {
                m->db = oauth_db_free(m->db);
                return manager_fail(m, ENOMEM, "Out of memory");
        }
        *ret = m->db;
        return 0;
}

int manager_db_for(Manager *m, const char *conninfo, OAuthDb **ret) {
        assert(m);
        assert(conninfo);
        assert(ret);

        return db_make(m, conninfo, false, "Failed to connect to the database", ret);
}

void manager_db_cancel(Manager *m) {
        assert(m);

        if (m->db)
                oauth_cancel(m->db);
}

int manager_db_where(const OAuthDb *db, LedgerDatabase *ret) {
        LedgerDatabase d = { 0 };

        assert(db);
        assert(ret);

        if (oauth_db_target(db, &d.host, &d.port, &d.name) < 0)
                return -ENOMEM;
        ledger_database_clear(ret);
        *ret = d;
        return 0;
}

static void conninfo_key(const char *conninfo, uint8_t key[32]) {
        unsigned n = 0;

        EVP_Digest(conninfo, strlen(conninfo), key, &n, EVP_sha256(), NULL);
}

/* DATABASE_URL's target, from the cache or parsed by libpq. */
static int url_target(Manager *m, const char *conninfo, LedgerDatabase *ret) {
        uint8_t key[32];
        OAuthDb *db;
        int r;

        conninfo_key(conninfo, key);
        if (m->target_cached && memcmp(key, m->target_key, sizeof key) == 0)
                return ledger_database_copy(ret, &m->target) < 0 ? manager_fail(m, ENOMEM, "Out of memory") : 0;
        r = db_make(m, conninfo, false, "Cannot tell which database DATABASE_URL names", &db); /* nothing connected */
        if (r < 0)
                return r;
        if (manager_db_where(db, &m->target) < 0 || ledger_database_copy(ret, &m->target) < 0)
                return manager_fail(m, ENOMEM, "Out of memory");
        memcpy(m->target_key, key, sizeof key);
        m->target_cached = true;
        return 0;
}

int manager_db_target(Manager *m, const Config *c, LedgerDatabase *ret) {
        _cleanup_free_ char *conninfo = NULL;
        LedgerDatabase d = { 0 };
        int r;

        assert(m);
        assert(c);
        assert(ret);

        r = manager_db_conninfo(c, &conninfo);
        if (r < 0)
                return manager_fail(m, r, "Out of memory");
        if (conninfo) {
                r = url_target(m, conninfo, ret);
                explicit_bzero(conninfo, strlen(conninfo));
                return r;
        }
        d.port = strdup("5432");
        d.name = strdup(config_get(c, "DB_NAME"));
        if (!d.port || !d.name) {
                ledger_database_clear(&d);
                return manager_fail(m, ENOMEM, "Out of memory");
        }
        ledger_database_clear(ret);
        *ret = d;
        return 0;
}

/* The ClusterIP of Service ${APP_PREFIX}-pg-rw, read synchronously. */
static int pg_service_host(Manager *m, const Config *c, char **ret) {
        _cleanup_free_ char *name = NULL;
        _cleanup_(cJSON_Deletep) cJSON *svc = NULL;
        KubeClient *k;
        KubeError err = { 0 };
        const char *ip;
        int r;

        if (asprintf(&name, "%s-pg-rw", config_get(c, "APP_PREFIX")) < 0)
                return -ENOMEM;
        r = manager_kube(m, c, &k);
        if (r < 0)
                return r;
        KubeRef ref = { .api_version = "v1", .kind = "Service", .namespace = config_get(c, "NAMESPACE"), .name = name };
        r = kube_get(k, &ref, &svc, &err);
        if (r < 0)
                return manager_fail(m, r, "Failed to read Service '%s' for the database address (set DATABASE_URL "
                                          "to skip this): %s", name, err.message);
        ip = json_string(JSON_GET(svc, "spec"), "clusterIP");
        if (!ip || streq(ip, "None"))
                return manager_fail(m, EADDRNOTAVAIL, "Service '%s' has no ClusterIP; set DATABASE_URL in values.env",
                                    name);
        return (*ret = strdup(ip)) ? 0 : -ENOMEM;
}

int manager_db(Manager *m, const Config *c, OAuthDb **ret) {
        _cleanup_free_ char *conninfo = NULL, *host = NULL;
        int r;

        assert(m);
        assert(c);
        assert(ret);

        r = manager_db_conninfo(c, &conninfo);
        if (r >= 0 && !conninfo) {
                r = pg_service_host(m, c, &host);
                if (r < 0)
                        return r;
                conninfo = manager_db_conninfo_for_host(c, host);
                r = conninfo ? 0 : -ENOMEM;
        }
        if (r >= 0)
                r = db_make(m, conninfo, true, "Failed to connect to the database", ret);
        if (conninfo)
                explicit_bzero(conninfo, strlen(conninfo));
        return r;
}
