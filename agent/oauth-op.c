/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One operation on the database, on the sd-event loop, as oauth-internal.h
 * describes it: host names resolved by util/resolve, the connection driven
 * by PQconnectPoll and the statements by PQsendQueryParams, PQflush,
 * PQconsumeInput and PQgetResult, on an io source that follows PQsocket;
 * a timer holds the deadline. No call here waits: each dispatch does what
 * the socket allows and returns.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oauth-internal.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/resolve.h"
#include "util/strbuf.h"

#define TIMER_ACCURACY_USEC (5 * USEC_PER_MSEC)
#define MAX_ADDRESSES 8 /* per host name */

typedef enum Phase {
        PHASE_BEGIN,       /* waiting for the loop's next iteration */
        PHASE_RESOLVE,     /* host names being resolved */
        PHASE_CONNECT,     /* PQconnectPoll */
        PHASE_STATEMENT,   /* stmts[next] sent, its answer awaited */
        PHASE_ROLLBACK,    /* ROLLBACK after a failure inside the transaction */
        PHASE_ROLLED_BACK, /* ... answered: report the failure */
} Phase;

struct OAuthOp {
        OAuthDb *db;
        OAuthOpHooks hooks;
        void *data;
        const OAuthStatement *stmts;
        size_t n_stmts, next;
        Phase phase;
        bool fixed;    /* oauth_op_start_done: report r, touch nothing */
        bool kept;     /* runs on a connection kept from an earlier operation */
        bool retried;  /* ... which was lost, and was re-established once */
        bool answered; /* the server answered a statement of this operation */
        bool flushing; /* PQflush has more to send: watch EPOLLOUT too */
        sd_event_source *defer, *timer, *io;
        uint64_t deadline; /* CLOCK_MONOTONIC, µs */

        /* The host list for libpq, built entry by entry while resolving. */
        Resolve *query;
        size_t resolving; /* index into db->hosts */
        StrBuf host_list, addr_list, port_list;
        size_t n_targets;

        PGresult *res; /* the answer to the statement in flight, so far */
        int r;         /* fixed: what to report; ROLLBACK: the failure to report */
        OAuthError err, saved_err;
};

static void notice_to_debug(void *userdata, const char *message) {
        log_debug("oauth: PostgreSQL: %s", message);
}

static void pqclearp(PGresult **p) {
        if (*p)
                sym_PQclear(*p);
        *p = NULL;
}

static int op_fail_errno(OAuthOp *op, int r, const char *what) {
        oauth_error(NULL, &op->err, NULL, "%s: %s", what, strerror(-r));
        return r;
}

static void where(const OAuthDb *db, const char **host, const char **port) {
        *host = db->conn ? strna(sym_PQhost(db->conn)) : db->where_host;
        *port = db->conn ? strna(sym_PQport(db->conn)) : db->where_port;
}

/* Closes the connection, the io source on its socket first. */
static void conn_drop(OAuthOp *op) {
        OAuthDb *db = op->db;

        op->io = sd_event_source_disable_unref(op->io);
        op->flushing = false;
        if (db->conn) {
                sym_PQfinish(db->conn);
                db->conn = NULL;
        }
}

/* Whether a kept connection still looks alive: what the server sent while
 * it was idle (the message of a terminated backend, the end of the stream)
 * is read now, without waiting. */
static bool conn_usable(PGconn *c) {
        return sym_PQstatus(c) == CONNECTION_OK && sym_PQconsumeInput(c) && sym_PQstatus(c) == CONNECTION_OK &&
               sym_PQtransactionStatus(c) == PQTRANS_IDLE;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static void op_step(OAuthOp *op, int r);

/* Watches the connection's socket. While connecting, libpq may have opened
 * a new one since the last poll (the next address), possibly under the
 * same number: renew makes a new source each time. */
static int op_watch(OAuthOp *op, uint32_t events, bool renew) {
        int fd = sym_PQsocket(op->db->conn), r;

        if (fd < 0) {
                oauth_error(op->db, &op->err, NULL, "PostgreSQL connection has no socket: %s",
                            sym_PQerrorMessage(op->db->conn));
                return -EIO;
        }
        if (op->io && !renew)
                r = sd_event_source_set_io_events(op->io, events);
        else {
                op->io = sd_event_source_disable_unref(op->io);
                r = sd_event_add_io(op->db->event, &op->io, fd, events, on_io, op);
        }
        return r < 0 ? op_fail_errno(op, r, "cannot watch the PostgreSQL connection") : 0;
}

static void op_release(OAuthOp *op) {
        op->io = sd_event_source_disable_unref(op->io);
        op->timer = sd_event_source_disable_unref(op->timer);
        op->defer = sd_event_source_disable_unref(op->defer);
        op->query = resolve_cancel(op->query);
        pqclearp(&op->res);
        strbuf_free(&op->host_list);
        strbuf_free(&op->addr_list);
        strbuf_free(&op->port_list);
}

static void op_free(OAuthOp *op) {
        op_release(op);
        if (op->hooks.free)
                op->hooks.free(op->data);
        free(op);
}

/* Reports r. The db is idle before done runs, which may start the next
 * operation or free the db: nothing here touches either afterwards. */
static void op_complete(OAuthOp *op, int r) {
        OAuthDb *db = op->db;

        db->op = NULL;
        op_release(op);
        op->hooks.done(db, op->data, r, r < 0 ? &op->err : NULL);
        if (op->hooks.free)
                op->hooks.free(op->data);
        free(op);
}

/* ---------------------------------------------------------------------------
 * Statements */

static int op_flush(OAuthOp *op) {
        int f = sym_PQflush(op->db->conn);

        if (f < 0)
                return oauth_result_error(op->db, NULL, &op->err);
        op->flushing = f > 0;
        return op_watch(op, EPOLLIN | (op->flushing ? EPOLLOUT : 0), false);
}

static int send_statement(OAuthOp *op, const char *sql, int n_params, const char *const *params) {
        if (!sym_PQsendQueryParams(op->db->conn, sql, n_params, NULL, params, NULL, NULL, 0))
                return oauth_result_error(op->db, NULL, &op->err);
        return op_flush(op);
}

/* Sends the next statement; 1 when there is none left. */
static int op_send_next(OAuthOp *op) {
        const OAuthStatement *st;

        op->phase = PHASE_STATEMENT;
        if (op->next >= op->n_stmts)
                return 1;
        st = &op->stmts[op->next];
        return send_statement(op, st->sql, st->n_params, st->params);
}

/* Whether a failed answer is a refusal the statement takes as an answer:
 * the server's own error, outside a transaction, the connection usable. */
static bool refusal_taken(const OAuthOp *op, const PGresult *res) {
        PGconn *c = op->db->conn;

        return op->phase == PHASE_STATEMENT && op->stmts[op->next].may_refuse && res &&
               sym_PQresultErrorField(res, PG_DIAG_SQLSTATE) && sym_PQstatus(c) == CONNECTION_OK &&
               sym_PQtransactionStatus(c) == PQTRANS_IDLE;
}

/* The statement's answer is complete (PQgetResult said NULL). */
static int statement_done(OAuthOp *op) {
        PGresult *res = TAKE_PTR(op->res);
        ExecStatusType s = res ? sym_PQresultStatus(res) : PGRES_FATAL_ERROR;
        int r = 0;

        op->answered = op->answered || res != NULL;
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && !refusal_taken(op, res))
                r = oauth_result_error(op->db, res, &op->err);
        else if (op->phase == PHASE_ROLLBACK) {
                op->phase = PHASE_ROLLED_BACK;
                op->err = op->saved_err;
                r = op->r;
        } else if (op->hooks.result && (r = op->hooks.result(op->data, op->next, res, &op->err)) == 1)
                res = NULL; /* the hook keeps it */
        pqclearp(&res);
        if (r < 0 || op->phase == PHASE_ROLLED_BACK)
                return r;
        op->next++;
        return op_send_next(op);
}

/* Keeps the first failed result of a statement, else its last one. */
static void keep_result(OAuthOp *op, PGresult *res) {
        ExecStatusType s = sym_PQresultStatus(res);
        bool failed = s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK;
        ExecStatusType kept = op->res ? sym_PQresultStatus(op->res) : PGRES_COMMAND_OK;

        if (op->res && kept != PGRES_COMMAND_OK && kept != PGRES_TUPLES_OK && !failed) {
                sym_PQclear(res);
                return;
        }
        pqclearp(&op->res);
        op->res = res;
}

static int statement_io(OAuthOp *op, uint32_t revents) {
        PGconn *c = op->db->conn;
        PGresult *res;
        int r;

        if ((revents & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !sym_PQconsumeInput(c)) {
                r = oauth_result_error(op->db, op->res, &op->err); /* lost: the server's last word, if any */
                pqclearp(&op->res);
                return r;
        }
        if (op->flushing && (r = op_flush(op)) < 0)
                return r;
        while (!sym_PQisBusy(c)) {
                res = sym_PQgetResult(c);
                if (!res)
                        return statement_done(op);
                keep_result(op, res);
        }
        return 0;
}

/* ---------------------------------------------------------------------------
 * Connecting */

static int connected(OAuthOp *op) {
        OAuthDb *db = op->db;
        int r;

        if (sym_PQsetnonblocking(db->conn, 1) != 0) {
                oauth_error(db, &op->err, NULL, "PostgreSQL: %s", sym_PQerrorMessage(db->conn));
                return -EIO;
        }
        r = sd_event_source_set_time(op->timer, op->deadline);
        if (r < 0)
                return op_fail_errno(op, r, "cannot set the PostgreSQL deadline");
        log_debug("oauth: connected to PostgreSQL at %s:%s as '%s'", strna(sym_PQhost(db->conn)),
                  strna(sym_PQport(db->conn)), strna(sym_PQuser(db->conn)));
        return op_send_next(op);
}

static int connect_poll(OAuthOp *op) {
        switch (sym_PQconnectPoll(op->db->conn)) {
        case PGRES_POLLING_READING:
                return op_watch(op, EPOLLIN, true);
        case PGRES_POLLING_WRITING:
        case PGRES_POLLING_ACTIVE: /* not used by libpq any more */
                return op_watch(op, EPOLLOUT, true);
        case PGRES_POLLING_OK:
                return connected(op);
        case PGRES_POLLING_FAILED:
        default:
                return oauth_connect_error(op->db, &op->err);
        }
}

static int connect_libpq(OAuthOp *op) {
        OAuthDb *db = op->db;
        OAuthConnParams p;
        int r;

        r = oauth_conn_params(db, strbuf_steal(&op->host_list), strbuf_steal(&op->addr_list),
                              strbuf_steal(&op->port_list), &p);
        if (r >= 0)
                db->conn = sym_PQconnectStartParams(p.keys, p.values, 0);
        oauth_conn_params_done(&p);
        if (r < 0 || !db->conn)
                return oauth_oom(&op->err);
        sym_PQsetNoticeProcessor(db->conn, notice_to_debug, NULL);
        if (sym_PQstatus(db->conn) == CONNECTION_BAD)
                return oauth_connect_error(db, &op->err);
        op->phase = PHASE_CONNECT;
        return op_watch(op, EPOLLOUT, true); /* as if PQconnectPoll had said PGRES_POLLING_WRITING */
}

static void append_target(OAuthOp *op, const OAuthHost *h, const char *hostaddr) {
        if (op->n_targets++ > 0) {
                strbuf_putc(&op->host_list, ',');
                strbuf_putc(&op->addr_list, ',');
                if (h->port)
                        strbuf_putc(&op->port_list, ',');
        }
        strbuf_puts(&op->host_list, h->host);
        strbuf_puts(&op->addr_list, hostaddr);
        if (h->port)
                strbuf_puts(&op->port_list, h->port);
}

static void on_resolved(Resolve *q, int gai_error, int sys_errno, const struct addrinfo *ai, void *userdata);

/* Adds the host entries from op->resolving on, resolving names (one at a
 * time: 0 while one is being resolved); then starts libpq. */
static int hosts_next(OAuthOp *op) {
        static const struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
        OAuthDb *db = op->db;
        int r;

        for (; op->resolving < db->n_hosts; op->resolving++) {
                const OAuthHost *h = &db->hosts[op->resolving];

                if (!h->resolve) {
                        append_target(op, h, h->hostaddr);
                        continue;
                }
                r = resolve_start(db->event, h->host, NULL, &hints, NULL, on_resolved, op, &op->query);
                return r < 0 ? op_fail_errno(op, r, "cannot resolve the PostgreSQL host name") : 0;
        }
        if (db->n_hosts > 0 && op->n_targets == 0)
                return -EHOSTUNREACH; /* op->err says why, from on_resolved */
        return connect_libpq(op);
}

static void on_resolved(Resolve *q, int gai_error, int sys_errno, const struct addrinfo *ai, void *userdata) {
        OAuthOp *op = userdata;
        const OAuthHost *h = &op->db->hosts[op->resolving];
        char addrs[MAX_ADDRESSES][NI_MAXHOST];
        size_t n = 0;

        op->query = NULL;
        for (; ai && n < MAX_ADDRESSES; ai = ai->ai_next) {
                if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addrs[n], sizeof addrs[n], NULL, 0, NI_NUMERICHOST))
                        continue;
                bool seen = false;
                for (size_t i = 0; i < n; i++)
                        seen = seen || streq(addrs[i], addrs[n]);
                if (!seen)
                        append_target(op, h, addrs[n++]);
        }
        if (gai_error != 0 && !op->err.message[0]) /* the first failure, reported when no host is left */
                oauth_error(op->db, &op->err, NULL,
                            "cannot reach PostgreSQL at %s:%s: could not translate host name \"%s\" to address: %s",
                            h->host, h->port ? h->port : op->db->where_port, h->host,
                            gai_error == EAI_SYSTEM ? strerror(sys_errno) : gai_strerror(gai_error));
        log_debug("oauth: PostgreSQL host '%s' resolved to %zu address(es)", h->host, n);
        op->resolving++;
        op_step(op, hosts_next(op));
}

/* Connects (resolving first when needed), within connect_timeout_usec and the
 * operation's deadline, whichever comes first. */
static int op_connect(OAuthOp *op) {
        usec_t limit = now_usec() + op->db->connect_timeout_usec;
        int r;

        r = sd_event_source_set_time(op->timer, limit < op->deadline ? limit : op->deadline);
        if (r < 0)
                return op_fail_errno(op, r, "cannot set the PostgreSQL connect timeout");
        op->phase = PHASE_RESOLVE;
        op->resolving = op->n_targets = 0;
        op->err = (OAuthError) { 0 };
        strbuf_free(&op->host_list);
        strbuf_free(&op->addr_list);
        strbuf_free(&op->port_list);
        return hosts_next(op);
}

/* ---------------------------------------------------------------------------
 * The course of an operation */

/* A failure: retry on a new connection, roll back, or report it. */
static void op_failed(OAuthOp *op, int r) {
        OAuthDb *db = op->db;
        bool lost = !db->conn || sym_PQstatus(db->conn) != CONNECTION_OK;
        PGTransactionStatusType t = lost ? PQTRANS_UNKNOWN : sym_PQtransactionStatus(db->conn);

        if (op->phase == PHASE_ROLLED_BACK) {
                op_complete(op, r);
                return;
        }
        if (op->phase == PHASE_ROLLBACK) { /* closing the connection rolls back too */
                conn_drop(op);
                op->err = op->saved_err;
                op_complete(op, op->r);
                return;
        }
        if (op->phase == PHASE_STATEMENT && lost && op->kept && !op->retried && !op->answered) {
                log_debug("oauth: the kept connection to PostgreSQL was lost (%s), reconnecting", op->err.message);
                conn_drop(op);
                op->retried = true;
                op->kept = false;
                op->next = 0;
                op_step(op, op_connect(op));
                return;
        }
        if (op->phase == PHASE_STATEMENT && (t == PQTRANS_INTRANS || t == PQTRANS_INERROR)) {
                op->r = r;
                op->saved_err = op->err;
                op->phase = PHASE_ROLLBACK;
                op_step(op, send_statement(op, "ROLLBACK", 0, NULL));
                return;
        }
        if (op->phase != PHASE_STATEMENT || lost)
                conn_drop(op);
        op_complete(op, r);
}

/* What every step returns: negative, a failure (op->err says it); 0, wait
 * for the next event; 1, done. */
static void op_step(OAuthOp *op, int r) {
        if (r < 0)
                op_failed(op, r);
        else if (r > 0)
                op_complete(op, 0);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        OAuthOp *op = userdata;

        if (op->phase == PHASE_CONNECT)
                op_step(op, connect_poll(op));
        else if (op->phase == PHASE_STATEMENT || op->phase == PHASE_ROLLBACK)
                op_step(op, statement_io(op, revents));
        return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        OAuthOp *op = userdata;
        OAuthDb *db = op->db;
        const char *host, *port;
        int r = -ETIMEDOUT;

        where(db, &host, &port);
        if (op->phase == PHASE_RESOLVE)
                oauth_error(db, &op->err, NULL,
                            "cannot reach PostgreSQL at %s:%s: timeout expired resolving the host name", host, port);
        else if (op->phase == PHASE_CONNECT)
                oauth_error(db, &op->err, NULL, "cannot reach PostgreSQL at %s:%s: timeout expired", host, port);
        else if (op->phase == PHASE_ROLLBACK) {
                op->err = op->saved_err;
                r = op->r;
        } else
                oauth_error(db, &op->err, NULL,
                            "no answer from PostgreSQL at %s:%s within %ld ms: closed the connection", host, port,
                            usec_to_ms_ceil(db->deadline_usec));
        log_debug("oauth: deadline expired, closing the connection to PostgreSQL");
        conn_drop(op);
        op_complete(op, r);
        return 0;
}

static int on_begin(sd_event_source *s, void *userdata) {
        OAuthOp *op = userdata;
        OAuthDb *db = op->db;

        op->defer = sd_event_source_disable_unref(op->defer);
        if (op->fixed) {
                op_complete(op, op->r);
                return 0;
        }
        if (db->conn && !conn_usable(db->conn)) {
                log_debug("oauth: the kept connection to PostgreSQL is closed, reconnecting");
                conn_drop(op);
        }
        op->kept = db->conn != NULL;
        op_step(op, op->kept ? op_send_next(op) : op_connect(op));
        return 0;
}

/* Starts an op made of what init sets (its statements, or an outcome
 * known from the start). */
static int op_new(OAuthDb *db, const OAuthOpHooks *hooks, void *data, OAuthOp init) {
        OAuthOp *op;
        int r;

        if (db->op) {
                if (hooks->free)
                        hooks->free(data);
                return -EBUSY;
        }
        op = calloc(1, sizeof *op);
        if (!op) {
                if (hooks->free)
                        hooks->free(data);
                return -ENOMEM;
        }
        *op = init;
        op->db = db;
        op->hooks = *hooks;
        op->data = data;
        op->deadline = now_usec() + db->deadline_usec;
        r = sd_event_add_defer(db->event, &op->defer, on_begin, op);
        if (r >= 0)
                r = sd_event_add_time(db->event, &op->timer, CLOCK_MONOTONIC, op->deadline, TIMER_ACCURACY_USEC,
                                      on_deadline, op);
        if (r < 0) {
                op_free(op);
                return r;
        }
        db->op = op;
        return 0;
}

int oauth_op_start(OAuthDb *db, const OAuthStatement *stmts, size_t n_stmts, const OAuthOpHooks *hooks, void *data) {
        assert(db);
        assert(stmts || n_stmts == 0);
        assert(hooks);
        assert(hooks->done);

        return op_new(db, hooks, data, (OAuthOp) { .stmts = stmts, .n_stmts = n_stmts });
}

int oauth_op_start_done(OAuthDb *db, int r, const OAuthError *err, const OAuthOpHooks *hooks, void *data) {
        OAuthOp init = { .fixed = true, .r = r };

        assert(db);
        assert(hooks);
        assert(hooks->done);

        if (err)
                init.err = *err;
        return op_new(db, hooks, data, init);
}

void oauth_cancel(OAuthDb *db) {
        OAuthOp *op;

        assert(db);

        op = db->op;
        if (!op)
                return;
        if (op->phase != PHASE_BEGIN) /* whatever it was waiting for never comes: no PQcancel, which blocks */
                conn_drop(op);
        db->op = NULL;
        op_free(op);
}

bool oauth_busy(const OAuthDb *db) {
        assert(db);

        return db->op;
}
