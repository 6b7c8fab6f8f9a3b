/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the oauth module (not for its callers): libpq, opened while a
 * connection exists (oauth-pq.c); the connection and the machine that runs
 * one operation on the loop (oauth-conn.c, oauth-op.c); the translation of
 * libpq's and the server's failures (oauth-error.c); for the statements
 * and their results (oauth.c).
 *
 * libpq: a connection holds oauth_pq open (dlib_open when it is made,
 * dlib_close when it is freed; util/dlib.h says why). The oauth-*.c files
 * call libpq only through the sym_ pointers below, valid while it is open.
 *
 * An operation: on the next iteration of the loop, reuse the kept
 * connection (found closed: reconnect) or resolve the host names and
 * connect; then send the statements one after the other, each answer handed
 * to the result hook; on a failure inside a transaction, ROLLBACK before
 * reporting it. A connection lost before the operation got any answer, when
 * it was kept from an earlier one, is re-established once. The deadline
 * closes the connection.
 */
#pragma once

#include <libpq-fe.h>
#include <systemd/sd-event.h>

#include "oauth.h"
#include "util/dlib.h"

#define OAUTH_PQ_SYMBOLS(X)          \
        X(PQconnectStartParams)      \
        X(PQconnectPoll)             \
        X(PQsocket)                  \
        X(PQstatus)                  \
        X(PQfinish)                  \
        X(PQsetnonblocking)          \
        X(PQsetNoticeProcessor)      \
        X(PQerrorMessage)            \
        X(PQhost)                    \
        X(PQport)                    \
        X(PQuser)                    \
        X(PQpass)                    \
        X(PQconnectionNeedsPassword) \
        X(PQconninfo)                \
        X(PQtransactionStatus)       \
        X(PQsendQueryParams)         \
        X(PQflush)                   \
        X(PQconsumeInput)            \
        X(PQisBusy)                  \
        X(PQgetResult)               \
        X(PQresultStatus)            \
        X(PQresultErrorMessage)      \
        X(PQresultErrorField)        \
        X(PQntuples)                 \
        X(PQgetvalue)                \
        X(PQgetisnull)               \
        X(PQcmdTuples)               \
        X(PQclear)                   \
        X(PQfreemem)                 \
        X(PQconninfoParse)           \
        X(PQconninfoFree)

OAUTH_PQ_SYMBOLS(DLIB_DECLARE_SYMBOL)

extern DLib oauth_pq;

typedef struct OAuthOp OAuthOp;

/* One entry of the host list: host (a name, a socket directory or an
 * address; "" when not given), hostaddr ("" when not given) and port (NULL
 * when one port, or none, is shared by every entry). */
typedef struct OAuthHost {
        char *host;
        char *hostaddr;
        char *port;
        bool resolve; /* host is a name without hostaddr: resolved before each connection */
} OAuthHost;

struct OAuthDb {
        sd_event *event;
        bool pq_open;              /* this db holds libpq open */
        PQconninfoOption *parsed;  /* the caller's conninfo */
        char *password;            /* from conninfo, only to redact it from messages */
        usec_t connect_timeout_usec, statement_timeout_usec, deadline_usec;
        OAuthHost *hosts;          /* set only when some entry must be resolved */
        size_t n_hosts;
        char *where_host, *where_port; /* the first host and port, for messages before there is a connection */
        PGconn *conn;              /* kept between operations; NULL when there is none */
        OAuthOp *op;               /* the running operation */
        char *system_identifier;   /* what the last sync read (oauth_db_system_identifier) */
};

/* One statement: text parameters, text results. */
typedef struct OAuthStatement {
        const char *sql;
        int n_params;
        const char *params[4];
        /* Outside a transaction, the server's refusal (an error with a
         * SQLSTATE, the connection still idle) goes to the result hook like
         * an answer, instead of failing the operation. */
        bool may_refuse;
} OAuthStatement;

typedef struct OAuthOpHooks {
        /* Statement i succeeded. res is cleared after the call unless the
         * hook returns 1 (it keeps res); negative fails the operation (with
         * err set). NULL: nothing to do with results. */
        int (*result)(void *data, size_t i, PGresult *res, OAuthError *err);
        /* Exactly once, from the loop, unless the operation is cancelled: r
         * is 0 (err NULL) or negative. The db is idle again: done may start
         * another operation or free the db. */
        void (*done)(OAuthDb *db, void *data, int r, const OAuthError *err);
        /* Frees data, after done or on cancel. NULL: nothing to free. */
        void (*free)(void *data);
} OAuthOpHooks;

/* Starts an operation running stmts (n_stmts 0: connect only). data (which
 * stmts may point into) belongs to the operation from here on, also when
 * this fails. Returns -EBUSY when one is running, -ENOMEM. */
int oauth_op_start(OAuthDb *db, const OAuthStatement *stmts, size_t n_stmts, const OAuthOpHooks *hooks, void *data);
/* An operation that touches nothing and completes from the loop with r
 * (0, or negative with err). Same ownership and returns. */
int oauth_op_start_done(OAuthDb *db, int r, const OAuthError *err, const OAuthOpHooks *hooks, void *data);

/* Messages (oauth-error.c): one line, db's password (when db is given)
 * replaced by <redacted>. */
void oauth_error(const OAuthDb *db, OAuthError *err, const char *sqlstate, const char *format, ...)
        _printf_(4, 5);
int oauth_oom(OAuthError *err);
/* A failed connection attempt (db->conn), as an errno and message. */
int oauth_connect_error(const OAuthDb *db, OAuthError *err);
/* A failed statement: res, or NULL when there was no result (the
 * connection lost, or the statement could not be sent). */
int oauth_result_error(const OAuthDb *db, const PGresult *res, OAuthError *err);

/* The keywords and values for PQconnectStartParams (oauth-conn.c). With
 * db->n_hosts, host_list, addr_list and port_list (NULL unless every entry
 * has its own port) are the resolved entries, comma-separated; they belong
 * to p from here on, also on failure. Returns 0 or -ENOMEM. */
typedef struct OAuthConnParams {
        const char **keys, **values; /* NULL-terminated */
        size_t n;
        char *owned[5];
} OAuthConnParams;
int oauth_conn_params(const OAuthDb *db, char *host_list, char *addr_list, char *port_list, OAuthConnParams *p);
void oauth_conn_params_done(OAuthConnParams *p);
