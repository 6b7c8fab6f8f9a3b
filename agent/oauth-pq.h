/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libpq for the oauth_clients sync: a connection holds oauth_pq open
 * (dlib_open when it is made, dlib_close when it is freed; util/dlib.h says
 * why). The oauth-*.c files call libpq only through these sym_ pointers,
 * valid while it is open.
 */
#pragma once

#include <libpq-fe.h>

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
