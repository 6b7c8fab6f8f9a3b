/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inside of one reconcile pass, shared by its stages: the pass itself
 * and its bookkeeping (manager-pass.c), the Kubernetes objects
 * (manager-objects.c), the oauth_clients rows (manager-clients.c) and the
 * ledger read back from the cluster when it was lost (manager-rebuild.c).
 * Only those four include it; the rest of the agent sees manager.h.
 */
#pragma once

#include "manager.h"

typedef enum TaskStep {
        TASK_APPLY,
        TASK_DELETE,
        TASK_REPLACE_DELETE, /* an immutable field changed: delete, */
        TASK_REPLACE_WAIT,   /* wait until it is gone, */
        TASK_REPLACE_APPLY,  /* create it again */
        TASK_LIST,           /* rebuilding the ledger: one kind */
} TaskStep;

typedef struct Task Task;
struct Task {
        Pass *pass;
        Task *prev, *next;
        TaskStep step;
        const PlanAction *a;     /* NULL for TASK_LIST */
        size_t index;            /* of a in the plan */
        const char *api_version; /* TASK_LIST */
        const char *kind;        /* TASK_LIST */
        char *id;
        unsigned flags;          /* of the apply (KUBE_APPLY_*) */
        KubeOp *op;
        sd_event_source *timer;
        bool started;
};

struct Pass {
        Manager *m;
        unsigned flags;
        PassDone done;
        void *userdata;
        sd_event_source *begin;
        sd_event_source *deadline;
        sd_event_source *save;   /* deferred: the ledger after the answers of one loop iteration */
        KubeOp *guard_op;        /* the APP_PREFIX guard's list of Deployments (manager-guard.c) */
        Config *config;
        DesiredSet *desired;
        Plan *plan;
        PassResult res;
        int error;    /* the first failure, or 0 */
        Task *tasks;  /* running */
        unsigned objects_in_flight;
        size_t next;  /* the plan action the next group starts from */
        bool *queued;         /* per plan action: the pass is to send it */
        bool *intended;       /* ... and its intent is in the ledger */
        bool *created;        /* ... and made its entry */
        bool *sent;           /* ... and its request went out */
        unsigned *apply_flags; /* per plan action, taken before its intent marked it pending */
        bool intents_saved;
        bool objects_done;
        unsigned lists_in_flight;
        /* clients */
        bool clients_done;
        KubeOp *pg_op;
        DigestGate key;      /* the secret digest's key (manager-digest.c) */
        OAuthClientSpec *specs;
        const PlanAction **client_actions;
        size_t n_specs;
        bool db_busy;
};

/* ---- manager-pass.c: bookkeeping ---- */

/* Notes a failure and logs it: the first one is what the pass reports. */
void pass_fail(Pass *p, int error, const char *format, ...) _printf_(3, 4);
/* A failure the manager already logged (manager_kube, manager_db_for). */
void pass_failed(Pass *p, int error);
/* Saves the ledger (durable: fsync'ed); a failure fails the pass. */
int pass_save(Pass *p, bool durable);
/* Saves the ledger once the answers of this loop iteration are in. */
void save_soon(Pass *p);
/* Starts nothing more: the pass finishes once nothing is in flight. */
void pass_stop(Pass *p);
/* Finishes the pass when its stages are done and nothing is in flight. */
void pass_maybe_finish(Pass *p);
/* Plans against the ledger, checks the guard, starts objects and clients. */
void pass_plan(Pass *p);
/* A task on the pass's list; a is borrowed (NULL for a list). */
Task *task_new(Pass *p, TaskStep step, const PlanAction *a);
/* Unlinks t, cancels what it has in flight; returns NULL. */
Task *task_free(Task *t);

/* ---- manager-objects.c ---- */

/* Whether the pass sends a request for a (an object action). */
bool manager_objects_relevant(const Pass *p, const PlanAction *a);
/* The object actions, group by group; sets p->objects_done at the end. */
void manager_objects_start(Pass *p);
/* Takes back the intents of writes that were never sent. */
void manager_objects_abandon_unsent(Pass *p);

/* ---- manager-clients.c ---- */

/* Whether the pass syncs the row of a (a client action). */
bool manager_clients_relevant(const Pass *p, const PlanAction *a);
/* The rows, at the same time as the objects; sets p->clients_done at the end. */
void manager_clients_start(Pass *p);

/* ---- manager-rebuild.c ---- */

/* Lists what the agent applied and records it in the ledger, then plans
 * (pass_plan). Returns a negative errno when nothing could be started. */
int manager_rebuild_start(Pass *p);
