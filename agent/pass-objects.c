/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A pass's Kubernetes objects: the plan's object actions in groups of one
 * dependency rank (deletes: Deployments, Services, Secrets; then applies:
 * Secrets, Services, Deployments). A group's requests run at once; the next
 * group starts when the last one of it has answered. Before the first
 * write, the intent of every write the pass may make is saved (durably) in
 * the ledger; each answer settles its own. A change server-side apply
 * cannot make in place (an immutable field) is a delete, a wait until the
 * object is gone, and a create.
 *
 * Every delete proves ownership first: the object is read, and it is
 * deleted only when it is still the one the agent applied (the uid the
 * ledger kept, when it kept one) and carries a mark of the agent (its
 * managed-by label or a managedFields entry of its field manager); the
 * DELETE then carries that uid as a precondition, so an object replaced
 * between the read and the delete is refused by the server. One that is
 * not the agent's any more is left in place and dropped from the ledger.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pass-internal.h"
#include "rollout.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log-messages.h"
#include "util/log.h"

#define GONE_POLL_USEC (250 * USEC_PER_MSEC)

typedef enum TaskStep {
        TASK_APPLY,
        TASK_DELETE_READ,    /* pruned: read, judged ours, */
        TASK_DELETE,         /* deleted with its uid as precondition */
        TASK_REPLACE_READ,   /* an immutable field changed: read, judged ours, */
        TASK_REPLACE_DELETE, /* deleted with its uid as precondition, */
        TASK_REPLACE_WAIT,   /* waited for until it is gone, */
        TASK_REPLACE_APPLY,  /* created again */
} TaskStep;

/* The journal fields of a task's object (util/log.h): NAP_OBJECT and
 * NAP_MODULE, NAP_WORKLOAD for a workload, and an event's MESSAGE_ID. */
#define OBJECT_FIELDS(t, mid)                                                                                   \
        LOG_FIELDS(.message_id = (mid), .kind = (t)->a->kind, .namespace = (t)->a->namespace,                   \
                   .name = (t)->a->name, .module = (t)->a->module,                                              \
                   .workload = rollout_kind((t)->a->kind) ? (t)->a->name : NULL)

/* The request of one action of the current group. */
struct ObjectTask {
        Pass *pass;
        ObjectTask *next;
        PassAction *pa;
        const PlanAction *a; /* pa->a */
        TaskStep step;
        char *id;            /* "Kind namespace/name", for the log */
        KubeOp *op;
        sd_event_source *timer; /* waiting for a replaced object to be gone */
        bool held;              /* applied with its secret digest held back (template.h) */
};

static ObjectTask *task_free(ObjectTask *t) {
        if (!t)
                return NULL;
        for (ObjectTask **i = &t->pass->objects.tasks; *i; i = &(*i)->next)
                if (*i == t) {
                        *i = t->next;
                        break;
                }
        kube_op_cancel(t->op);
        sd_event_source_disable_unref(t->timer);
        free(t->id);
        free(t);
        return NULL;
}

static ObjectTask *task_new(Pass *p, PassAction *pa) {
        ObjectTask *t = calloc(1, sizeof *t);

        if (!t)
                return NULL;
        *t = (ObjectTask) { .pass = p, .pa = pa, .a = pa->a,
                            .step = pa->a->op == PLAN_DELETE ? TASK_DELETE_READ : TASK_APPLY, .next = p->objects.tasks };
        if (!(t->id = plan_action_id(pa->a))) {
                free(t);
                return NULL;
        }
        p->objects.tasks = t;
        return t;
}

/* This stage starts nothing more: the pass finishes once the other has. */
static void objects_end(Pass *p) {
        p->objects.done = true;
        pass_stage_done(p);
}

static void objects_next_group(Pass *p);
static bool needs_digest_key(const Pass *p, size_t from, size_t to);

/* An object task is over: each answer is saved at once (pass_save_soon);
 * when the group is over, the next one starts. */
static void object_task_done(ObjectTask *t) {
        Pass *p = t->pass;

        task_free(t);
        pass_save_soon(p);
        if (--p->objects.in_flight > 0)
                return;
        if (p->error) {
                objects_end(p);
                return;
        }
        objects_next_group(p);
}

static const LedgerObject *ledger_entry(const Pass *p, const PlanAction *a) {
        return ledger_find_object(p->ledger, a->kind, a->namespace, a->name);
}

/* The server answered with an error, so the write did not happen. */
static void abandon_if_refused(ObjectTask *t, const KubeError *err) {
        const PlanAction *a = t->a;

        if (err && err->http_status > 0 && t->pa->intended) {
                ledger_abandon_intent(t->pass->ledger, a->kind, a->namespace, a->name, t->pa->created);
                t->pa->intended = false;
        }
}

/* ---- applying and deleting objects ---------------------------------------------- */

static void on_applied(int r, KubeApplyResult *ar, const KubeError *err, void *userdata);
static void on_created(int r, cJSON *obj, const KubeError *err, void *userdata);
static void on_deleted(int r, bool existed, const KubeError *err, void *userdata);

/* Before the intent is written: it marks the entry pending. */
static unsigned apply_flags(const Pass *p, const PlanAction *a) {
        const LedgerObject *e = ledger_entry(p, a);
        unsigned flags = a->adopt ? KUBE_APPLY_ADOPT : 0;

        /* A partial object (nap-cp's public URLs) is set only on what
         * exists, and never taken over: the rest of it is install.sh's. */
        if (a->object->partial)
                flags = KUBE_APPLY_EXISTING;
        else {
                /* install.sh may run again (a platform upgrade re-applies and
                 * re-patches the modules): what it leaves behind is taken
                 * back (kube.h). */
                flags |= KUBE_APPLY_RECLAIM;
                if (a->object->installer_patches)
                        flags |= KUBE_APPLY_TAKE_PATCHED;
                /* The answer to the first write was lost: it may have been
                 * an adoption, so it is one again. */
                if (e && e->pending && !e->digest[0])
                        flags |= KUBE_APPLY_ADOPT;
        }

        /* A resync reads first and writes only what drifted; so does the
         * first apply of an entry read back from the cluster (no digest). */
        if (((p->opts.flags & PASS_RESYNC) && a->op == PLAN_UNCHANGED) || (e && !e->digest[0] && !e->pending))
                flags |= KUBE_APPLY_RESYNC;
        return flags;
}

/* The object as it is applied: with its pod template's secret digest, or
 * with it held back (a workload taken over from install.sh whose secrets
 * did not change since; template.h). live_read: live was just read.
 * *ret: a new object, or NULL for the one already given to the apply. */
static int task_body(ObjectTask *t, const cJSON *live, bool live_read, cJSON **ret) {
        const LedgerObject *e = ledger_entry(t->pass, t->a);
        const cJSON *body = t->a->object->body;
        bool was_held = t->held;

        *ret = NULL;
        /* A replaced object is new: its pods start anyway. */
        t->held = t->step != TASK_REPLACE_APPLY &&
                  template_secret_digest_held(body, e ? e->adopted_digest : NULL, live, live_read);
        if (t->held)
                return template_secret_digest_hold(body, ret);
        if (!was_held)
                return 0;
        *ret = cJSON_Duplicate(body, true); /* the apply was given the held one */
        return *ret ? 0 : -ENOMEM;
}

/* KubeApplyChoose: the body once the object was read. */
static int choose_body(const cJSON *live, cJSON **ret, void *userdata) {
        ObjectTask *t = userdata;

        *ret = NULL;
        if (!template_needs_secret_digest_key(t->a->object))
                return 0;
        return task_body(t, live, true, ret);
}

static int task_start_apply(ObjectTask *t, unsigned flags) {
        const LedgerObject *e = ledger_entry(t->pass, t->a);
        const cJSON *ann = template_secret_digest_annotation(t->a->object->body);
        _cleanup_(json_delete_wipedp) cJSON *held = NULL;
        int r;

        /* Never the stand-in of a secret digest: the digest gate seals them. */
        if (cJSON_IsString(ann) && streq(ann->valuestring, SECRET_DIGEST_PENDING))
                return -ENOKEY;
        /* Made once, never overwritten; entries added beside the others (plan-kinds.c). */
        if (t->a->object->create_only)
                return kube_create_start(t->pass->objects.kube, t->a->object->body, on_created, t, &t->op);
        if (t->a->object->list_entries)
                return kube_add_entries_start(t->pass->objects.kube, t->a->object->body, t->a->object->list_entries,
                                              on_applied, t, &t->op);
        t->held = false;
        r = task_body(t, NULL, false, &held);
        if (r < 0)
                return r;
        return kube_apply_choose_start(t->pass->objects.kube, held ? held : t->a->object->body,
                                       e ? e->resource_version : NULL, flags, choose_body, on_applied, t, &t->op);
}

/* A GET of the task's object. */
static int task_start_get(ObjectTask *t, KubeObjectDone done) {
        const PlanAction *a = t->a;
        KubeRef ref = { .api_version = a->api_version, .kind = a->kind, .namespace = a->namespace, .name = a->name };
        _cleanup_free_ char *path = NULL;
        int r;

        r = kube_path(&ref, &path);
        if (r < 0)
                return r;
        return kube_get_start(t->pass->objects.kube, path, done, t, &t->op);
}

/* The DELETE of the object of uid: never of another one under its name. */
static int task_start_delete(ObjectTask *t, const char *uid) {
        const PlanAction *a = t->a;
        KubeRef ref = { .api_version = a->api_version, .kind = a->kind, .namespace = a->namespace, .name = a->name };

        return kube_delete_start(t->pass->objects.kube, &ref, uid, on_deleted, t, &t->op);
}

/* NULL when live is still the object the agent applied (ledger_uid: the
 * uid its apply got back, NULL when the ledger has none, e.g. an older
 * ledger's entry) and carries a mark of the agent: its managed-by label
 * or a managedFields entry of its field manager. Else why it is not. */
static const char *ownership_problem(const cJSON *live, const char *ledger_uid) {
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(live, "metadata"), *e;
        const char *uid = json_string(md, "uid"), *label = json_string(JSON_GET(md, "labels"), MANAGED_BY_LABEL);

        if (ledger_uid && (!uid || !streq(uid, ledger_uid)))
                return "it was deleted and created again by someone else: its uid is not the one nap-agent applied";
        if (label && streq(label, "nap-agent"))
                return NULL;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(md, "managedFields")) {
                const char *manager = json_string(e, "manager");
                if (manager && streq(manager, KUBE_FIELD_MANAGER))
                        return NULL;
        }
        return "it carries neither nap-agent's label nor a field nap-agent manages";
}

/* An object the ledger holds that is someone else's now: left in place,
 * and dropped from the ledger so that nothing of the agent acts on it
 * again. A pruned one is a warning; one the pass had to replace fails it. */
static void not_ours(ObjectTask *t, const char *why) {
        Pass *p = t->pass;
        const PlanAction *a = t->a;

        ledger_forget_object(p->ledger, a->kind, a->namespace, a->name);
        t->pa->intended = false;
        if (t->step == TASK_DELETE_READ || t->step == TASK_DELETE) {
                log_warning("%s is not ours any more: left in place (%s)", t->id, why);
                p->res.warnings++;
                return;
        }
        pass_fail(p, EPERM, "%s cannot be changed in place and is not ours any more: left in place (%s); delete it "
                  "(kubectl delete) to let nap-agent create it", t->id, why);
}

/* A write of the task was not sent: its intent goes (nothing of it can have happened). */
static void abandon_intent(ObjectTask *t) {
        if (t->pa->intended) {
                ledger_abandon_intent(t->pass->ledger, t->a->kind, t->a->namespace, t->a->name, t->pa->created);
                t->pa->intended = false;
        }
}

/* The object as it is before a delete: judged, then deleted with its uid
 * as precondition, or left in place. */
static void on_read_before_delete(int r, cJSON *live, const KubeError *err, void *userdata) {
        _cleanup_(json_delete_wipedp) cJSON *obj = live;
        ObjectTask *t = userdata;
        const LedgerObject *e = ledger_entry(t->pass, t->a);
        bool pruning = t->step == TASK_DELETE_READ;
        const char *why;

        t->op = NULL;
        if (r == -ENOENT && pruning) {
                t->step = TASK_DELETE;
                on_deleted(0, false, NULL, t); /* already gone: done there */
                return;
        }
        if (r == -ENOENT) { /* nothing to replace: create it */
                t->step = TASK_REPLACE_APPLY;
                r = task_start_apply(t, 0);
                if (r >= 0)
                        return;
                pass_fail(t->pass, r, "Failed to create %s again: %s", t->id, STRERROR(r));
        } else if (r < 0) {
                abandon_intent(t);
                pass_fail(t->pass, r, "Failed to read %s before deleting it: %s", t->id,
                          err ? err->message : STRERROR(r));
        } else if ((why = ownership_problem(obj, e ? e->uid : NULL)))
                not_ours(t, why);
        else {
                t->step = pruning ? TASK_DELETE : TASK_REPLACE_DELETE;
                r = task_start_delete(t, json_string(JSON_GET(obj, "metadata"), "uid"));
                if (r >= 0)
                        return;
                abandon_intent(t);
                pass_fail(t->pass, r, "Failed to delete %s: %s", t->id, STRERROR(r));
        }
        object_task_done(t);
}

static void log_applied(ObjectTask *t, const KubeApplyResult *ar) {
        Pass *p = t->pass;

        if (ar->adopted)
                log_struct(LOG_NOTICE, 0, OBJECT_FIELDS(t, NAP_MESSAGE_OBJECT_ADOPTED),
                           "adopted %s: the fields install.sh's kubectl applied now belong to nap-agent%s", t->id,
                           t->held ? "; its secret digest waits on the object, not in its pod template, until a "
                                     "secret its pods read changes (adding it would restart them)" : "");
        if (ar->reclaimed)
                log_struct(LOG_NOTICE, 0, OBJECT_FIELDS(t, NULL), "took %s back from install.sh's kubectl, which had "
                           "applied it again: what values.env no longer sets is removed", t->id);
        if (t->a->object->list_entries) {
                if (ar->changed)
                        log_struct(LOG_INFO, 0, OBJECT_FIELDS(t, NULL), "added the %s entries of %s to %s, keeping "
                                   "every other", t->a->object->list_entries, t->a->object->source, t->id);
                if (ar->changed && !(t->pa->apply_flags & KUBE_APPLY_RESYNC))
                        p->res.objects_applied++;
                else if (ar->changed)
                        p->res.objects_repaired++;
                else
                        p->res.objects_unchanged++;
        } else if (t->a->object->partial && ar->changed && !(t->pa->apply_flags & KUBE_APPLY_RESYNC)) {
                log_struct(LOG_INFO, 0, OBJECT_FIELDS(t, NULL), "updated %s: only the fields nap-agent sets on it (%s)",
                           t->id, t->a->object->source);
                p->res.objects_applied++;
        } else if (t->step == TASK_REPLACE_APPLY) {
                log_struct(LOG_INFO, 0, OBJECT_FIELDS(t, NULL), "created %s again", t->id);
                p->res.objects_applied++;
        } else if (t->pa->apply_flags & KUBE_APPLY_RESYNC) {
                if (ar->changed) {
                        log_struct(LOG_NOTICE, 0, OBJECT_FIELDS(t, NAP_MESSAGE_DRIFT_REPAIRED), "repaired drift on %s%s",
                                   t->id, ar->created ? " (it had been deleted)" : "");
                        p->res.objects_repaired++;
                } else
                        p->res.objects_unchanged++;
        } else {
                log_struct(LOG_INFO, 0, OBJECT_FIELDS(t, NULL), "%s %s",
                           ar->created ? "created" : ar->changed ? "updated" : "applied (already as desired)", t->id);
                p->res.objects_applied++;
        }
}

static void on_gone_check(int r, cJSON *obj, const KubeError *err, void *userdata);

static int on_gone_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ObjectTask *t = userdata;
        int r;

        t->timer = sd_event_source_disable_unref(t->timer);
        r = task_start_get(t, on_gone_check);
        if (r < 0) {
                pass_fail_fields(t->pass, r, OBJECT_FIELDS(t, NULL), "Failed to check that %s is gone: %s", t->id,
                                 STRERROR(r));
                object_task_done(t);
        }
        return 0;
}

/* Waiting for a replaced object to be gone before creating it again. */
static void on_gone_check(int r, cJSON *obj, const KubeError *err, void *userdata) {
        ObjectTask *t = userdata;

        t->op = NULL;
        cJSON_Delete(obj);
        if (r == -ENOENT) {
                t->step = TASK_REPLACE_APPLY;
                r = task_start_apply(t, 0);
                if (r >= 0)
                        return;
        } else if (r >= 0) {
                r = sd_event_add_time_relative(manager_event(t->pass->m), &t->timer, CLOCK_MONOTONIC, GONE_POLL_USEC, 1000,
                                               on_gone_timer, t);
                if (r >= 0)
                        return;
        }
        pass_fail_fields(t->pass, r, OBJECT_FIELDS(t, NULL), "Failed to replace %s: %s", t->id,
                         err ? err->message : STRERROR(r));
        object_task_done(t);
}

/* The object a partial one is set on does not exist: a warning, and the
 * ledger says so (no resourceVersion, see plan_entry_missing), so that a
 * pass that changes nothing does not look again; a resync does. */
static void partial_missing(ObjectTask *t) {
        Pass *p = t->pass;

        log_struct(LOG_WARNING, 0, OBJECT_FIELDS(t, NULL),
                   "%s does not exist, so the fields nap-agent sets on it (%s) are not set: it belongs to the "
                   "platform's own installation (install.sh), which nap-agent never creates; `nap-agent apply "
                   "--resync` looks again, ignoring", t->id, t->a->object->source);
        p->res.warnings++;
        if (plan_action_record(p->ledger, t->a, NULL, NULL) < 0)
                pass_fail(p, ENOMEM, "Out of memory");
}

static void on_applied(int r, KubeApplyResult *ar, const KubeError *err, void *userdata) {
        ObjectTask *t = userdata;
        Pass *p = t->pass;

        t->op = NULL;
        if (t->a->object->partial && r == -ENOENT) {
                partial_missing(t);
                object_task_done(t);
                return;
        }
        /* Never for a partial object: it is not the agent's to delete. */
        if (t->step == TASK_APPLY && !t->a->object->partial && kube_error_needs_replace(r, err)) {
                log_struct(LOG_NOTICE, 0, OBJECT_FIELDS(t, NULL),
                           "%s cannot be changed in place (%s); deleting it, waiting until it is gone, and "
                           "creating it again", t->id, err->message);
                t->step = TASK_REPLACE_READ;
                r = task_start_get(t, on_read_before_delete);
                if (r >= 0)
                        return;
        }
        if (r < 0) {
                abandon_if_refused(t, err);
                pass_fail_fields(p, r, OBJECT_FIELDS(t, NULL), "Failed to apply %s: %s%s", t->id,
                                 err ? err->message : STRERROR(r),
                          t->a->object->partial && r == -EINVAL ? " (only some fields are set on it: does it have "
                                                                   "what they belong to, e.g. the container?)"
                                                                 : "");
        } else {
                log_applied(t, ar);
                r = plan_action_record(p->ledger, t->a, ar->resource_version,
                                       json_string(JSON_GET(ar->live, "metadata"), "uid"));
                if (r >= 0 && !t->a->object->partial)
                        r = ledger_set_adopted_digest(p->ledger, t->a->kind, t->a->namespace, t->a->name,
                                                      t->held ? template_secret_digest_value(t->a->object->body)
                                                              : NULL);
                /* followed after the pass; nap-cp (partial) is the platform's */
                if (r >= 0 && ar->changed && !t->a->object->partial)
                        r = pass_result_add_workload(&p->res, t->a->module, ar->live);
                if (r < 0)
                        pass_fail(p, r, "Out of memory");
        }
        object_task_done(t);
}

/* A create-only object: made now, or there already (409), which is as
 * good: it is never overwritten (the registry login install.sh or an
 * operator made stays as it is). */
static void on_created(int r, cJSON *obj, const KubeError *err, void *userdata) {
        ObjectTask *t = userdata;
        Pass *p = t->pass;
        const char *rv = json_string(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion");

        t->op = NULL;
        if (r == -EEXIST) {
                log_info("%s exists: left as it is (%s makes it only when it is missing, never overwrites it)", t->id,
                         t->a->object->source);
                p->res.objects_unchanged++;
                r = plan_action_record(p->ledger, t->a, NULL, NULL);
        } else if (r < 0) {
                abandon_if_refused(t, err);
                pass_fail(p, r, "Failed to create %s: %s", t->id, err ? err->message : STRERROR(r));
        } else {
                log_info("created %s (%s; never overwritten, never deleted)", t->id, t->a->object->source);
                p->res.objects_applied++;
                r = plan_action_record(p->ledger, t->a, rv,
                                       json_string(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "uid"));
        }
        if (r < 0 && !p->error)
                pass_fail(p, r, "Out of memory");
        json_delete_wiped(obj);
        object_task_done(t);
}

static void on_deleted(int r, bool existed, const KubeError *err, void *userdata) {
        ObjectTask *t = userdata;
        Pass *p = t->pass;
        const PlanAction *a = t->a;

        t->op = NULL;
        if (r >= 0 && t->step == TASK_REPLACE_DELETE) {
                t->step = TASK_REPLACE_WAIT;
                on_gone_check(0, NULL, NULL, t);
                return;
        }
        if (r == -ESTALE)
                not_ours(t, "it was deleted and created again by someone else just before the delete, which the "
                            "server refused (another uid)");
        else if (r < 0) {
                abandon_if_refused(t, err);
                pass_fail_fields(p, r, OBJECT_FIELDS(t, NULL), "Failed to delete %s: %s", t->id,
                                 err ? err->message : STRERROR(r));
        } else {
                log_struct(LOG_INFO, 0, OBJECT_FIELDS(t, NULL), "deleted %s (%s)%s", t->id,
                           a->reason ? a->reason : "pruned", existed ? "" : ", it was already gone");
                p->res.objects_deleted++;
                (void) plan_action_record(p->ledger, a, NULL, NULL);
        }
        object_task_done(t);
}

/* ---- groups of one rank ----------------------------------------------------------- */

bool pass_objects_relevant(const Pass *p, const PlanAction *a) {
        const LedgerObject *e;

        assert(p);
        assert(a);

        if (a->is_client || (p->opts.flags & PASS_CLIENTS_ONLY))
                return false;
        if (a->op != PLAN_UNCHANGED || (p->opts.flags & PASS_RESYNC))
                return true;
        e = ledger_entry(p, a);
        return e && !e->digest[0];
}

static bool same_group(const PlanAction *x, const PlanAction *y) {
        return (x->op == PLAN_DELETE) == (y->op == PLAN_DELETE) && kind_rank(x->kind) == kind_rank(y->kind);
}

/* Before the first write of the pass, the intent of every write it may
 * make goes into the ledger, saved once: a write whose answer is lost (a
 * deadline, a kill) is then still the agent's. The flags of each apply are
 * taken first: an intent marks its entry pending. */
static int intents_write(Pass *p) {
        const Plan *plan = p->plan;

        p->objects.actions = calloc(plan->n_actions + 1, sizeof *p->objects.actions);
        if (!p->objects.actions)
                return -ENOMEM;
        for (size_t i = 0; i < plan->n_actions; i++) {
                PassAction *pa = &p->objects.actions[i];
                const PlanAction *a = &plan->actions[i];
                int r;

                pa->a = a;
                if (!pass_objects_relevant(p, a))
                        continue;
                pa->queued = true;
                pa->apply_flags = a->op == PLAN_DELETE ? 0 : apply_flags(p, a);
                /* A partial object (fields set on someone else's object) is
                 * never the agent's to prune: a lost answer loses nothing. */
                if (a->object && a->object->partial)
                        continue;
                r = ledger_intend_object(p->ledger, a->api_version, a->kind, a->namespace, a->name, a->module,
                                         a->op == PLAN_DELETE ? "delete" : "apply", &pa->created);
                if (r < 0)
                        return r;
                pa->intended = true;
                /* never pruned, also while its first write is pending */
                if (a->object && a->object->create_only)
                        ledger_find_object(p->ledger, a->kind, a->namespace, a->name)->create_only = true;
        }
        return 0;
}

/* The intents of writes that were never sent (an earlier group failed, the
 * deadline came first) are taken back: nothing of theirs can have happened. */
void pass_objects_abandon_unsent(Pass *p) {
        assert(p);

        for (size_t i = 0; p->objects.actions && i < p->plan->n_actions; i++) {
                PassAction *pa = &p->objects.actions[i];
                if (pa->intended && !pa->sent) {
                        ledger_abandon_intent(p->ledger, pa->a->kind, pa->a->namespace, pa->a->name, pa->created);
                        pa->intended = false;
                }
        }
}

/* The group's tasks (their intents are in the ledger already). */
static int group_prepare(Pass *p, size_t from, size_t to) {
        for (size_t i = from; i < to; i++)
                if (p->objects.actions[i].queued && !task_new(p, &p->objects.actions[i]))
                        return -ENOMEM;
        return 0;
}

/* Sends the group's requests, all at once. */
static void group_launch(Pass *p) {
        for (ObjectTask *t = p->objects.tasks, *next; t; t = next) {
                int r;

                next = t->next;
                if (t->pa->sent)
                        continue;
                r = p->error ? -ECANCELED
                    : t->step == TASK_DELETE_READ ? task_start_get(t, on_read_before_delete)
                                                  : task_start_apply(t, t->pa->apply_flags);
                if (r < 0) {
                        if (r != -ECANCELED)
                                pass_fail_fields(p, r, OBJECT_FIELDS(t, NULL), "Failed to start applying %s: %s",
                                                 t->id, STRERROR(r));
                        task_free(t);
                        continue;
                }
                t->pa->sent = true;
                p->objects.in_flight++;
        }
}

/* The first group: the client, and every intent saved before any write. */
static int objects_begin(Pass *p) {
        int r;

        r = manager_kube(p->m, p->config, &p->objects.kube);
        if (r < 0) {
                pass_failed(p, r);
                return r;
        }
        r = intents_write(p);
        if (r < 0) {
                pass_fail(p, r, "Out of memory");
                return r;
        }
        r = pass_save(p, true);
        if (r >= 0)
                p->objects.intents_saved = true;
        return r;
}

static void objects_next_group(Pass *p) {
        PassObjects *o = &p->objects;
        const Plan *plan = p->plan;
        size_t from, to;
        int r;

        while (o->next < plan->n_actions && !pass_objects_relevant(p, &plan->actions[o->next]))
                o->next++;
        if (o->next >= plan->n_actions || p->error || (!o->intents_saved && objects_begin(p) < 0)) {
                objects_end(p);
                return;
        }
        from = o->next;
        for (to = from + 1; to < plan->n_actions; to++)
                if (!plan->actions[to].is_client && !same_group(&plan->actions[from], &plan->actions[to]))
                        break;
        r = needs_digest_key(p, from, to) ? digest_gate_ready(&o->key, p) : 0;
        if (r > 0)
                return; /* the gate comes back here */
        if (r < 0) {
                pass_fail(p, r, "Failed to read or create Secret '%s' (the key of the pod templates' secret digest): "
                          "%s", SECRET_DIGEST_KEY_SECRET, o->key.err.message[0] ? o->key.err.message : STRERROR(r));
                objects_end(p);
                return;
        }
        o->next = to;

        r = group_prepare(p, from, to);
        if (r < 0)
                pass_fail(p, r, "Out of memory");
        group_launch(p); /* after a failure, this drops the prepared tasks */
        if (o->in_flight == 0) {
                /* Nothing started: a failure (or nothing relevant after all). */
                if (p->error)
                        objects_end(p);
                else
                        objects_next_group(p);
        }
}

static bool needs_digest_key(const Pass *p, size_t from, size_t to) {
        for (size_t i = from; i < to; i++) {
                const PlanAction *a = &p->plan->actions[i];
                if (a->object && pass_objects_relevant(p, a) && template_needs_secret_digest_key(a->object))
                        return true;
        }
        return false;
}

static void on_key_ready(void *userdata) {
        objects_next_group(userdata);
}

/* The pod templates that carry the secret digest need its key, read (or
 * created) once per run, at the same time as the first groups, which do
 * not need it (Secrets, Services); a failure is said by the group that does. */
void pass_objects_start(Pass *p) {
        int r;

        assert(p);

        /* (a pass that failed already, e.g. the rows found no kubeconfig, writes nothing: no second try) */
        if (!p->error && !(p->opts.flags & PASS_CLIENTS_ONLY) && needs_digest_key(p, 0, p->plan->n_actions)) {
                manager_clear_error(p->m);
                r = digest_gate_start(&p->objects.key, p, on_key_ready, p);
                if (r < 0 && manager_last_error(p->m)[0])
                        pass_failed(p, r); /* manager_kube() said why */
                else if (r < 0)
                        pass_fail(p, r, "Failed to read Secret '%s': %s", SECRET_DIGEST_KEY_SECRET, STRERROR(r));
        }
        objects_next_group(p);
}

void pass_objects_cancel(Pass *p) {
        assert(p);

        while (p->objects.tasks)
                task_free(p->objects.tasks);
        p->objects.in_flight = 0;
        digest_gate_cancel(&p->objects.key);
        p->objects.done = true;
}

void pass_objects_free(Pass *p) {
        assert(p);

        free(p->objects.actions);
        p->objects.actions = NULL;
}
