/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inside of one reconcile pass, shared by the files of the pass and by
 * nothing else (tools/check-includes.py): the pass and its state machine
 * (pass.c), and one stage per file, each owning its sub-struct of Pass
 * with its own cancel and free: the lost ledger read back from the
 * cluster (pass-rebuild.c), install.sh's APP_PREFIX guard (pass-guard.c),
 * the Kubernetes objects (pass-objects.c) with the secret digest's key
 * (pass-digest.c), and the oauth_clients rows (pass-clients.c).
 */
#pragma once

#include "pass.h"
#include "util/log.h"

struct PassCache {
        char *guard_passed;  /* what the APP_PREFIX guard last passed for (pass-guard.c), or NULL */
        char digest_key[65]; /* the secret digest's key, hex (pass-digest.c); secret */
        char *digest_key_ns; /* the namespace it was read from; NULL: not read yet */
};

/* Where a pass is. Each state hands over to the next when its stage is
 * done; a failure, or the deadline, goes to PASS_FINISHED once nothing of
 * the stage is in flight. */
typedef enum PassState {
        PASS_LOADING,    /* deferred: values.env read and rendered */
        PASS_REBUILDING, /* the ledger was lost: what the agent applied is listed (pass-rebuild.c) */
        PASS_GUARDING,   /* the Deployments of the namespace are listed (pass-guard.c) */
        PASS_APPLYING,   /* the objects and the rows, at once (pass-objects.c, pass-clients.c) */
        PASS_FINISHED,   /* done was called; the pass is being freed */
} PassState;

/* One action of the plan and how far the pass got with it. */
typedef struct PassAction {
        const PlanAction *a;
        bool queued;          /* the pass sends a request for it */
        bool intended;        /* its intent is in the ledger */
        bool created;         /* that intent made its ledger entry */
        bool sent;            /* its request went out */
        unsigned apply_flags; /* KUBE_APPLY_*, taken before its intent marked the entry pending */
} PassAction;

typedef struct DigestKeyOp DigestKeyOp;

/* A pass's wait for the secret digest's key (pass-digest.c): started beside
 * its first groups (which do not need it), waited for by the first group
 * that does. */
typedef struct DigestGate {
        DigestKeyOp *op;
        bool waiting;
        int error;    /* reading it failed, and err says why */
        KubeError err;
        void (*resume)(void *userdata);
        void *userdata;
} DigestGate;

typedef struct ObjectTask ObjectTask;

typedef struct PassObjects {
        KubeClient *kube;    /* the manager's, from the first group on */
        PassAction *actions; /* one per plan action, from the first group on */
        ObjectTask *tasks;   /* the requests of the current group in flight */
        unsigned in_flight;
        size_t next;         /* the plan action the next group starts from */
        bool intents_saved;
        bool done;
        DigestGate key;
} PassObjects;

typedef struct PassClients {
        LedgerDatabase target;        /* where the rows go: known before planning (pass.c), the
                                         Service's address once read, the server's identifier
                                         once a sync read it */
        bool target_known;            /* false: where is not known, the pass failed, no row goes */
        KubeOp *pg_op;                /* reading the database's Service */
        OAuthDb *db;                  /* the manager's, once the conninfo is known */
        const PlanAction **actions;   /* the rows of the sync in flight, by their plan actions */
        size_t n;
        const PlanAction **synced;    /* every client action this pass synced or is syncing */
        size_t n_synced;
        unsigned rounds;              /* syncs started: a second one when the server turned out another */
        bool db_busy;                 /* a sync is in flight */
        bool done;
} PassClients;

typedef struct RebuildList RebuildList;

typedef struct PassRebuild {
        RebuildList *lists; /* in flight */
} PassRebuild;

typedef struct PassGuard {
        KubeOp *op; /* the list of the namespace's Deployments */
} PassGuard;

struct Pass {
        Manager *m;
        Ledger *ledger; /* the manager's, for as long as the pass runs */
        PassCache *cache;
        PassCache *own_cache; /* when the caller keeps none */
        PassOptions opts;
        PassState state;
        PassDone done;
        void *userdata;
        sd_event_source *begin;
        sd_event_source *deadline;
        sd_event_source *save; /* deferred: the ledger after the answers of one loop iteration */
        Config *config;
        DesiredSet *desired;
        Plan *plan;
        PassResult res;
        int error;           /* the first failure, or 0 */
        char error_line[1024]; /* ... and what was logged for it */
        char id[33];          /* NAP_PASS= of its journal entries (util/log.h) */
        PassRebuild rebuild;
        PassGuard guard;
        PassObjects objects;
        PassClients clients;
};

/* ---- pass.c ---- */

/* Notes a failure and logs it: the first one is what the pass reports. */
void pass_fail(Pass *p, int error, const char *format, ...) _printf_(3, 4);
/* The same with the entry's journal fields (the object, a MESSAGE_ID). */
void pass_fail_fields(Pass *p, int error, const LogFields *fields, const char *format, ...) _printf_(4, 5);
/* A failure the manager already logged (manager_kube, manager_db_for). */
void pass_failed(Pass *p, int error);
/* Saves the ledger (durable: fsync'ed); a failure fails the pass. */
int pass_save(Pass *p, bool durable);
/* Saves the ledger once the answers of this loop iteration are in. */
void pass_save_soon(Pass *p);
/* A stage of PASS_APPLYING is done: the pass finishes after the last. */
void pass_stage_done(Pass *p);
/* The lost ledger is read back (or reading it failed): plan, or finish. */
void pass_rebuild_done(Pass *p);
/* The guard's verdict: r < 0 (logged) finishes the pass, else it applies. */
void pass_guard_done(Pass *p, int r);
/* Notes a workload the pass created or changed (live: the object the apply
 * returned); other kinds are ignored. */
int pass_result_add_workload(PassResult *r, const char *module, const cJSON *live);

/* ---- pass-rebuild.c ---- */

/* Lists what the agent applied and records it in the ledger, then calls
 * pass_rebuild_done(). A negative errno when nothing could be started. */
int pass_rebuild_start(Pass *p);
void pass_rebuild_cancel(Pass *p);

/* ---- pass-guard.c ---- */

/* 1: the pass may go on at once; 0: the list is on its way
 * (pass_guard_done follows); negative: a failure, logged. */
int pass_guard_start(Pass *p);
void pass_guard_cancel(Pass *p);

/* ---- pass-objects.c ---- */

/* Whether the pass sends a request for a (an object action). */
bool pass_objects_relevant(const Pass *p, const PlanAction *a);
/* The object actions, group by group; pass_stage_done() at the end. */
void pass_objects_start(Pass *p);
/* Takes back the intents of writes that were never sent. */
void pass_objects_abandon_unsent(Pass *p);
/* Drops what is in flight (its intents stay); the stage is done. */
void pass_objects_cancel(Pass *p);
void pass_objects_free(Pass *p);

/* ---- pass-clients.c ---- */

/* Whether the pass syncs the row of a (a client action) as planned. */
bool pass_clients_relevant(const Pass *p, const PlanAction *a);
/* Where the rows go, before planning: p->clients.target. A failure (logged)
 * fails the pass; the rows are then left alone. */
void pass_clients_target(Pass *p);
/* The rows, at the same time as the objects; pass_stage_done() at the end. */
void pass_clients_start(Pass *p);
void pass_clients_cancel(Pass *p);
void pass_clients_free(Pass *p);

/* ---- pass-digest.c ---- */

/* Starts reading the key unless the cache has it (0). resume is called,
 * from the loop, when digest_gate_ready() asked to wait and the key is
 * there or reading it failed. */
int digest_gate_start(DigestGate *g, Pass *p, void (*resume)(void *userdata), void *userdata);
/* 0: the desired set is sealed; 1: wait for resume; negative: reading the
 * key failed (g->err says why). */
int digest_gate_ready(DigestGate *g, Pass *p);
void digest_gate_cancel(DigestGate *g);
