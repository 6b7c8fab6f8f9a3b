/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libpq for the oauth_clients sync, opened when a connection is made and
 * closed with the last one (util/dlib.h says why). oauth.c calls libpq only
 * through these sym_ pointers, which are valid while a connection exists.
 */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#define OAUTH_PQ_SYMBOLS(X)          \
        X(PQconnectdbParams)         \
        X(PQstatus)                  \
        X(PQfinish)                  \
        X(PQreset)                   \
        X(PQsetNoticeProcessor)      \
        X(PQerrorMessage)            \
        X(PQhost)                    \
        X(PQport)                    \
        X(PQuser)                    \
        X(PQpass)                    \
        X(PQconnectionNeedsPassword) \
        X(PQtransactionStatus)       \
        X(PQexec)                    \
        X(PQexecParams)              \
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

#define OAUTH_PQ_DECLARE(f) extern __typeof__(f) *sym_##f;
OAUTH_PQ_SYMBOLS(OAUTH_PQ_DECLARE)
#undef OAUTH_PQ_DECLARE

/* Opens libpq for one more user. On failure err says why in one line. */
int oauth_pq_open(char *err, size_t err_size);
/* The last user's close unloads the library. */
void oauth_pq_close(void);
bool oauth_pq_is_open(void);
