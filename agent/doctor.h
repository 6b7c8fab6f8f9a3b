/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `nap-agent doctor`: the debugging list operators used to work through by
 * hand with kubectl and psql, run live. Each check says ok, warn or fail,
 * what it saw, and the one command or values.env line that fixes it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "manager.h"
#include "pass.h"
#include "util/clock.h"

typedef enum DoctorStatus {
        DOCTOR_OK,
        DOCTOR_WARN,
        DOCTOR_FAIL,
        DOCTOR_SKIP, /* could not be run: an earlier check failed */
} DoctorStatus;

typedef struct DoctorCheck {
        char *id;      /* stable, e.g. "oauth.sandbox-service.exists" */
        DoctorStatus status;
        char *summary; /* what it saw, one line, no secret */
        char *fix;     /* the command or values.env line that fixes it; may be NULL */
} DoctorCheck;

typedef struct DoctorReport {
        DoctorCheck *checks;
        size_t n_checks;
} DoctorReport;

typedef struct DoctorOptions {
        usec_t stun_timeout_usec; /* 0: the default (util/defaults.h) */
} DoctorOptions;

/* Runs every check it can; never fails half-way (a check that cannot run
 * is reported as such). Returns 0 or -ENOMEM. */
int doctor_run(Manager *m, const DoctorOptions *opts, DoctorReport *ret);
void doctor_report_clear(DoctorReport *r);
bool doctor_report_failed(const DoctorReport *r);
void doctor_print(const DoctorReport *r, FILE *f);
/* {"ok": bool, "checks": [{"id", "status", "summary", "fix"}]} */
char *doctor_report_json(const DoctorReport *r);

/* Sends one STUN Binding request (RFC 5389) to host:port over UDP and waits
 * up to timeout_usec (0: the default) for the matching success response. 0
 * on an answer, -ETIMEDOUT on none, another negative errno on a local
 * failure. */
int doctor_stun_ping(const char *host, unsigned port, usec_t timeout_usec, char **ret_mapped);
/* "a.b.c.d:port" of the XOR-MAPPED-ADDRESS in a Binding success answer of
 * len bytes (its 20-byte header included), or NULL (none, not IPv4, OOM). */
char *doctor_stun_mapped_address(const uint8_t *answer, size_t len);
