/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The database handle and what libpq is given to connect with: the caller's
 * conninfo parsed once, our settings (timeouts, keepalives, encoding)
 * replacing or extending it, and the host list worked out so that libpq
 * never resolves a name itself (oauth-op.c resolves it off the loop).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth-internal.h"
#include "util/defaults.h"


/* ---------------------------------------------------------------------------
 * The host list: libpq resolves a host name itself, blocking, unless
 * hostaddr gives the address. Worked out once from the conninfo (and the
 * PG* variables libpq would read), resolved before each connection. */

static const char *option_value(const PQconninfoOption *o, const char *keyword) {
        for (; o && o->keyword; o++)
                if (streq(o->keyword, keyword))
                        return o->val;
        return NULL;
}

static const char *setting(const OAuthDb *db, const char *keyword, const char *env) {
        const char *v = option_value(db->parsed, keyword);
        return v ? v : getenv(env);
}

/* libpq splits host, hostaddr and port at every comma (no quoting). */
static size_t list_count(const char *s) {
        size_t n = 1;

        if (!s)
                return 0;
        for (; *s; s++)
                n += *s == ',';
        return n;
}

static char *list_item(const char *s, size_t i) {
        const char *end;

        for (; i > 0; i--)
                s = strchr(s, ',') + 1;
        end = strchrnul(s, ',');
        return strndup(s, (size_t) (end - s));
}

static bool is_address(const char *h) {
        unsigned char buf[sizeof(struct in6_addr)];
        return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static void hosts_free(OAuthHost *hosts, size_t n) {
        for (size_t i = 0; hosts && i < n; i++) {
                free(hosts[i].host);
                free(hosts[i].hostaddr);
                free(hosts[i].port);
        }
        free(hosts);
}

static int hosts_check(OAuthDb *db, const char *host, const char *hostaddr, const char *port, OAuthError *err) {
        const char *service = setting(db, "service", "PGSERVICE");
        size_t nh = list_count(host), na = list_count(hostaddr), np = list_count(port);

        if (!host && !hostaddr && !strempty(service)) {
                oauth_error(db, err, NULL,
                            "PostgreSQL service '%s': give host or hostaddr in the connection string too "
                            "(the service file's host would be resolved blocking)",
                            service);
                return -EINVAL;
        }
        if (nh > 0 && na > 0 && nh != na) {
                oauth_error(db, err, NULL,
                            "invalid PostgreSQL connection string: could not match %zu host names to %zu hostaddr "
                            "values",
                            nh, na);
                return -EINVAL;
        }
        if (np > 1 && np != (nh > na ? nh : na)) {
                oauth_error(db, err, NULL,
                            "invalid PostgreSQL connection string: could not match %zu port numbers to %zu hosts", np,
                            nh > na ? nh : na);
                return -EINVAL;
        }
        return 0;
}

/* Sets db->hosts when an entry must be resolved; where_host/where_port always. */
static int hosts_parse(OAuthDb *db, OAuthError *err) {
        const char *host = setting(db, "host", "PGHOST"), *hostaddr = setting(db, "hostaddr", "PGHOSTADDR");
        const char *port = setting(db, "port", "PGPORT");
        size_t nh = list_count(host), na = list_count(hostaddr), np = list_count(port), n = nh > na ? nh : na;
        OAuthHost *hosts;
        bool any = false;
        int r;

        r = hosts_check(db, host, hostaddr, port, err);
        if (r < 0)
                return r;
        db->where_host = host || hostaddr ? list_item(host ? host : hostaddr, 0) : strdup("localhost");
        db->where_port = np > 0 ? list_item(port, 0) : strdup("5432");
        hosts = calloc(n ? n : 1, sizeof *hosts);
        if (!db->where_host || !db->where_port || !hosts) {
                free(hosts);
                return oauth_oom(err);
        }
        for (size_t i = 0; i < n; i++) {
                OAuthHost *h = &hosts[i];

                h->host = nh > 0 ? list_item(host, i) : strdup("");
                h->hostaddr = na > 0 ? list_item(hostaddr, i) : strdup("");
                h->port = np > 1 ? list_item(port, i) : NULL;
                if (!h->host || !h->hostaddr || (np > 1 && !h->port)) {
                        hosts_free(hosts, n);
                        return oauth_oom(err);
                }
                h->resolve = !*h->hostaddr && *h->host && h->host[0] != '/' && h->host[0] != '@' &&
                             !is_address(h->host);
                any = any || h->resolve;
        }
        if (!any) { /* libpq has nothing to resolve: give it the conninfo as it is */
                hosts_free(hosts, n);
                return 0;
        }
        db->hosts = hosts;
        db->n_hosts = n;
        return 0;
}

/* ---------------------------------------------------------------------------
 * The database handle */

static void conninfo_freep(PQconninfoOption **p) {
        if (*p)
                sym_PQconninfoFree(*p);
}

static int parse_conninfo(const char *conninfo, PQconninfoOption **ret, OAuthError *err) {
        char *errmsg = NULL;
        PQconninfoOption *parsed = sym_PQconninfoParse(strempty(conninfo) ? "" : conninfo, &errmsg);

        if (parsed) {
                *ret = parsed;
                return 0;
        }
        if (!errmsg)
                return oauth_oom(err);
        /* libpq may quote the rest of the string, which may hold the password. */
        if (strchr(conninfo, '@') || strcasestr(conninfo, "password"))
                oauth_error(NULL, err, NULL,
                            "invalid PostgreSQL connection string (details withheld: it holds a password)");
        else
                oauth_error(NULL, err, NULL, "invalid PostgreSQL connection string: %s", errmsg);
        sym_PQfreemem(errmsg);
        return -EINVAL;
}

static int db_setup(OAuthDb *db, const char *conninfo, const OAuthOptions *opts, OAuthError *err) {
        const char *pw;
        char why[256];
        int r;

        r = dlib_open(&oauth_pq, why, sizeof why);
        if (r < 0) {
                oauth_error(NULL, err, NULL, "%s", why);
                return r;
        }
        db->pq_open = true;
        db->connect_timeout_usec = opts && opts->connect_timeout_usec ? opts->connect_timeout_usec
                                                                      : DEFAULT_OAUTH_CONNECT_TIMEOUT_USEC;
        db->statement_timeout_usec = opts && opts->statement_timeout_usec ? opts->statement_timeout_usec
                                                                          : DEFAULT_OAUTH_STATEMENT_TIMEOUT_USEC;
        db->deadline_usec = opts && opts->deadline_usec ? opts->deadline_usec : DEFAULT_OAUTH_DEADLINE_USEC;
        r = parse_conninfo(conninfo, &db->parsed, err);
        if (r < 0)
                return r;
        pw = option_value(db->parsed, "password");
        if (!strempty(pw) && !(db->password = strdup(pw)))
                return oauth_oom(err);
        return hosts_parse(db, err);
}

int oauth_db_new(const char *conninfo, const OAuthOptions *opts, sd_event *event, OAuthDb **ret,
                 OAuthError *err) {
        _cleanup_(oauth_db_freep) OAuthDb *db = NULL;
        int r;

        assert(ret);

        db = calloc(1, sizeof *db);
        if (!db)
                return oauth_oom(err);
        if (event)
                db->event = sd_event_ref(event);
        else if ((r = sd_event_new(&db->event)) < 0) {
                oauth_error(NULL, err, NULL, "cannot create an event loop: %s", strerror(-r));
                return r;
        }
        r = db_setup(db, conninfo, opts, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(db);
        return 0;
}

OAuthDb *oauth_db_free(OAuthDb *db) {
        if (!db)
                return NULL;
        oauth_cancel(db);
        if (db->conn)
                sym_PQfinish(db->conn);
        if (db->parsed) {
                /* It holds the password too. */
                for (PQconninfoOption *o = db->parsed; o->keyword; o++)
                        if (o->val && streq(o->keyword, "password"))
                                explicit_bzero(o->val, strlen(o->val));
                sym_PQconninfoFree(db->parsed);
        }
        if (db->password) {
                explicit_bzero(db->password, strlen(db->password));
                free(db->password);
        }
        hosts_free(db->hosts, db->n_hosts);
        free(db->system_identifier);
        free(db->where_host);
        free(db->where_port);
        if (db->pq_open)
                dlib_close(&oauth_pq);
        sd_event_unref(db->event);
        free(db);
        return NULL;
}

int oauth_db_target(const OAuthDb *db, char **ret_host, char **ret_port, char **ret_dbname) {
        const char *host, *port, *dbname;
        _cleanup_free_ char *h = NULL, *p = NULL, *d = NULL;

        assert(db);
        assert(ret_host);
        assert(ret_port);
        assert(ret_dbname);

        host = setting(db, "host", "PGHOST");
        port = setting(db, "port", "PGPORT");
        dbname = setting(db, "dbname", "PGDATABASE");
        if (strempty(host))
                host = setting(db, "hostaddr", "PGHOSTADDR");
        if (strempty(dbname))
                dbname = setting(db, "user", "PGUSER"); /* libpq's default */
        h = strdup(strempty(host) ? "localhost" : host);
        p = strdup(strempty(port) ? "5432" : port);
        d = strempty(dbname) ? NULL : strdup(dbname);
        if (!h || !p || (!strempty(dbname) && !d))
                return -ENOMEM;
        *ret_host = TAKE_PTR(h);
        *ret_port = TAKE_PTR(p);
        *ret_dbname = TAKE_PTR(d);
        return 0;
}

char *oauth_db_setting(const OAuthDb *db, const char *keyword) {
        _cleanup_(conninfo_freep) PQconninfoOption *o = NULL;
        const char *v;

        assert(db);
        assert(keyword);

        if (!db->conn || streq(keyword, "password") || sym_PQstatus(db->conn) != CONNECTION_OK)
                return NULL;
        o = sym_PQconninfo(db->conn);
        v = option_value(o, keyword);
        return v ? strdup(v) : NULL;
}

/* ---------------------------------------------------------------------------
 * What libpq connects with: the caller's conninfo, our settings replacing or
 * extending it, and the resolved host list. */

void oauth_conn_params_done(OAuthConnParams *p) {
        assert(p);

        free(p->keys);
        free(p->values);
        for (size_t i = 0; i < ELEMENTSOF(p->owned); i++)
                free(p->owned[i]);
        *p = (OAuthConnParams) { 0 };
}

static void add(OAuthConnParams *p, const char *key, const char *value) {
        p->keys[p->n] = key;
        p->values[p->n++] = value;
}

/* keepalives: a peer that is gone is noticed within 10 + 3 * 5 s; data it
 * does not acknowledge for 10 s closes the connection. */
static const char *const tcp_defaults[][2] = {
        { "keepalives", "1" },        { "keepalives_idle", "10" },      { "keepalives_interval", "5" },
        { "keepalives_count", "3" }, { "tcp_user_timeout", "10000" },
};

static void add_ours(const OAuthDb *db, OAuthConnParams *p, bool gssencmode) {
        add(p, "options", p->owned[0]);
        add(p, "connect_timeout", p->owned[1]);
        add(p, "client_encoding", "UTF8");
        add(p, "fallback_application_name", "nap-agent");
        for (size_t i = 0; i < ELEMENTSOF(tcp_defaults); i++)
                if (!option_value(db->parsed, tcp_defaults[i][0]))
                        add(p, tcp_defaults[i][0], tcp_defaults[i][1]);
        /* The agent signs in with a password. libpq's default (prefer) first
         * asks Kerberos for credentials on every connection, and the
         * per-thread state that leaves behind is lost when libpq is unloaded
         * between passes: opt out unless the operator asked for GSSAPI. */
        if (!gssencmode)
                add(p, "gssencmode", "disable");
        if (db->n_hosts > 0) {
                add(p, "host", p->owned[2]);
                add(p, "hostaddr", p->owned[3]);
                if (p->owned[4])
                        add(p, "port", p->owned[4]);
        }
}

static bool replaced(const OAuthDb *db, const char *k) {
        return streq(k, "connect_timeout") || streq(k, "client_encoding") ||
               (db->n_hosts > 0 && (streq(k, "host") || streq(k, "hostaddr") ||
                                    (streq(k, "port") && db->hosts[0].port)));
}

int oauth_conn_params(const OAuthDb *db, char *host_list, char *addr_list, char *port_list, OAuthConnParams *p) {
        const char *user_options = NULL;
        bool gssencmode = getenv("PGGSSENCMODE") != NULL;
        size_t n = 0;

        assert(db);
        assert(db->parsed);
        assert(p);

        *p = (OAuthConnParams) { .owned[2] = host_list, .owned[3] = addr_list, .owned[4] = port_list };
        for (const PQconninfoOption *o = db->parsed; o->keyword; o++)
                n++;
        p->keys = calloc(n + 16, sizeof *p->keys);
        p->values = calloc(n + 16, sizeof *p->values);
        if (!p->keys || !p->values)
                return -ENOMEM;
        for (const PQconninfoOption *o = db->parsed; o->keyword; o++) {
                if (!o->val || replaced(db, o->keyword))
                        continue;
                if (streq(o->keyword, "options")) {
                        user_options = o->val;
                        continue;
                }
                gssencmode = gssencmode || streq(o->keyword, "gssencmode");
                add(p, o->keyword, o->val);
        }
        if (!user_options)
                user_options = getenv("PGOPTIONS"); /* which libpq would no longer read */
        if (asprintf(&p->owned[0], "%s%s-c statement_timeout=%ld", strempty(user_options) ? "" : user_options,
                     strempty(user_options) ? "" : " ", usec_to_ms_ceil(db->statement_timeout_usec)) < 0) {
                p->owned[0] = NULL;
                return -ENOMEM;
        }
        if (asprintf(&p->owned[1], "%llu",
                     (unsigned long long) ((db->connect_timeout_usec + USEC_PER_SEC - 1) / USEC_PER_SEC)) < 0) {
                p->owned[1] = NULL;
                return -ENOMEM;
        }
        if (db->n_hosts > 0 && (!host_list || !addr_list || (db->hosts[0].port && !port_list)))
                return -ENOMEM;
        add_ours(db, p, gssencmode);
        return 0;
}

