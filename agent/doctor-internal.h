/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the checks of `nap-agent doctor` share: the run's context and the
 * report they add to. doctor.c runs them in the order of the operator's
 * list: values.env and the API server (doctor.c), the oauth_clients rows
 * (doctor-oauth.c), the workloads, TURN and OpenSandbox
 * (doctor-workloads.c), the agent itself (doctor.c).
 */
#pragma once

#include "doctor.h"

typedef struct DoctorCtx {
        Manager *m;
        const DoctorOptions *opts;
        DoctorReport *report;
        Config *config;
        DesiredSet *desired;
        KubeClient *kube; /* NULL when unreachable */
        OAuthDb *db;      /* NULL when unreachable */
        int error;        /* -ENOMEM seen */
} DoctorCtx;


/* Adds a check to the report (a failed allocation sets ctx->error). */
void doctor_add(DoctorCtx *ctx, DoctorStatus st, const char *id, const char *fix, const char *format, ...)
        _printf_(5, 6);
/* A value of the config, "" when unset. */
const char *doctor_cget(DoctorCtx *ctx, const char *name);

/* doctor-oauth.c: oauth.database, oauth.<client>.{exists,redirect_uri}, nodeport.<module> */
void doctor_check_oauth(DoctorCtx *ctx);
/* doctor-workloads.c: sandbox.pod, browser.pod, turn.*, opensandbox.* */
void doctor_check_services(DoctorCtx *ctx);
void doctor_check_turn(DoctorCtx *ctx);
void doctor_check_opensandbox(DoctorCtx *ctx);
/* doctor-registry.c: registry.pull_secret, registry.serviceaccount (with IMAGE_PULL_SECRET set) */
void doctor_check_registry(DoctorCtx *ctx);
