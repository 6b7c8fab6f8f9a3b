/* SPDX-License-Identifier: Apache-2.0 */
#include <unistd.h>

#include "config-util.h"
#include "plan.h"

static const TemplateDirs dirs = { .dir = NAP_TEST_TEMPLATES, .override_dir = "/nonexistent/nap-test" };

/* One plan's world: a ledger in its own temp dir, and the config, the
 * desired set and the plan of the last PLAN() against it. */
typedef struct World {
        char *dir;
        Ledger *ledger;
        Config *config;
        DesiredSet *desired;
        Plan *plan;
} World;

static World world_open(void) {
        char t[] = "/tmp/nap-plan-XXXXXX";
        World w = { 0 };

        ASSERT_TRUE(mkdtemp(t));
        w.dir = strdup(t);
        ASSERT_TRUE(w.dir);
        ASSERT_OK(ledger_open(w.dir, &w.ledger, NULL));
        return w;
}

static void world_drop_plan(World *w) {
        w->plan = plan_free(w->plan);
        w->desired = desired_set_free(w->desired);
        w->config = config_free(w->config);
}

/* Frees everything and removes the temp dir. */
static void world_close(World *w) {
        _cleanup_free_ char *cmd = NULL;

        world_drop_plan(w);
        w->ledger = ledger_free(w->ledger);
        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", w->dir) > 0);
        ASSERT_EQ(system(cmd), 0);
        free(w->dir);
        w->dir = NULL;
}

/* Config + render + plan against the world's ledger. */
static void plan_for(World *w, const char *const *kv) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };

        world_drop_plan(w);
        w->config = config_from_strv(kv, &d);
        ASSERT_EQ(diag_has_errors(&d), 0);
        ASSERT_OK(template_render(w->config, &dirs, &w->desired, &d));
        ASSERT_OK(plan_compute(w->desired, w->config, w->ledger, &w->plan));
}
#define KV(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define PLAN(w, ...) plan_for((w), KV(__VA_ARGS__))

/* Pretends every action succeeded. */
static void carry_out(const World *w) {
        for (size_t i = 0; i < w->plan->n_actions; i++)
                ASSERT_OK(plan_action_record(w->ledger, &w->plan->actions[i], "1"));
}

/* A world whose ledger holds what `before` applied, planned for `after`. */
static World edited(const char *const *before, const char *const *after) {
        World w = world_open();

        plan_for(&w, before);
        carry_out(&w);
        plan_for(&w, after);
        return w;
}

static const PlanAction *action(const Plan *p, const char *kind_or_client, const char *name) {
        for (size_t i = 0; i < p->n_actions; i++) {
                const PlanAction *a = &p->actions[i];
                if (a->is_client ? streq(kind_or_client, "client") && streq(a->client_id, name)
                                 : streq(a->kind, kind_or_client) && streq(a->name, name))
                        return a;
        }
        return NULL;
}

/* Whether one of a's changes contains needle. */
static bool has_change(const PlanAction *a, const char *needle) {
        ASSERT_TRUE(a);
        for (size_t i = 0; i < a->n_changes; i++)
                if (strstr(a->changes[i], needle))
                        return true;
        return false;
}

/* The names of the changed actions, sorted into one string. */
static char *changed(const Plan *p) {
        static char buf[1024];
        buf[0] = 0;
        for (size_t i = 0; i < p->n_actions; i++) {
                const PlanAction *a = &p->actions[i];
                if (a->op == PLAN_UNCHANGED)
                        continue;
                strcat(buf, a->op == PLAN_CREATE ? "+" : a->op == PLAN_UPDATE ? "~" : "-");
                strcat(buf, a->is_client ? a->client_id : a->name);
                strcat(buf, a->is_client ? "(client) " : a->kind[0] == 'S' && a->kind[1] == 'e' && a->kind[2] == 'r' && a->kind[3] == 'v' ? "(svc) " : " ");
        }
        return buf;
}

#define BOTH BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true"

TEST(first_pass_creates_everything_then_nothing) {
        World w = world_open();

        PLAN(&w, BOTH);
        ASSERT_EQ(plan_count(w.plan, PLAN_CREATE, false), 9);
        ASSERT_EQ(plan_count(w.plan, PLAN_CREATE, true), 2);
        ASSERT_TRUE(action(w.plan, "Secret", "nap-sandbox-secret")->adopt);
        /* the platform's nap-cp: never created, never adopted, only its two env entries */
        const PlanAction *cp = action(w.plan, "Deployment", "nap-cp");
        ASSERT_TRUE(cp->op == PLAN_UPDATE && !cp->adopt);
        ASSERT_EQ(cp->n_changes, 2);
        ASSERT_TRUE(strstr(cp->changes[1], "spec.template.spec.containers[name=control-plane].env[name=SANDBOX_PUBLIC_URL]"
                                           ".value: (added) \"http://203.0.113.7:30086\""));
        carry_out(&w);

        PLAN(&w, BOTH, "A_COMMENT_CHANGED_NOTHING=1");
        ASSERT_TRUE(!plan_has_changes(w.plan));
        ASSERT_EQ(plan_count(w.plan, PLAN_UNCHANGED, false), 10);
        world_close(&w);
}

TEST(node_port_edit_touches_three_things) {
        World w = edited(KV(BOTH), KV(BOTH, "BROWSER_NODE_PORT=31000"));

        /* nap-cp builds the live-view links from BROWSER_PUBLIC_URL */
        ASSERT_STREQ(changed(w.plan), "~nap-browser(svc) ~nap-browser ~nap-cp ~browser-service(client) ");
        ASSERT_TRUE(has_change(action(w.plan, "Deployment", "nap-browser"),
                               "env[name=BROWSER_SERVICE_URL].value: \"http://203.0.113.7:30085\" → \"http://203.0.113.7:31000\""));
        world_close(&w);
}

TEST(secret_edit_rolls_only_its_users_and_hides_values) {
        World w = edited(KV(BOTH), KV(BOTH, "SANDBOX_JWT_SECRET=a-brand-new-secret-0123456789abcdef0123"));
        char *text = NULL;
        size_t len = 0;
        FILE *f;

        ASSERT_STREQ(changed(w.plan), "~nap-sandbox-secret ~nap-sandbox ");
        f = open_memstream(&text, &len);
        plan_print(w.plan, f, false);
        fclose(f);
        ASSERT_NULL(strstr(text, "a-brand-new-secret"));
        ASSERT_NULL(strstr(text, "sandbox-jwt-0123456789abcdef"));
        ASSERT_TRUE(strstr(text, "data.JWT_SECRET: <redacted> → <redacted> (changed)"));
        free(text);
        world_close(&w);
}

TEST(toggle_off_deletes_in_reverse_order) {
        World w = edited(KV(BOTH), KV(BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=false"));

        /* The oauth row stays: deleting it would cascade to the client's tokens. */
        ASSERT_STREQ(changed(w.plan), "-coturn -nap-browser -coturn(svc) -nap-browser(svc) -nap-browser-secret ");
        ASSERT_STREQ(action(w.plan, "Deployment", "coturn")->reason, "BROWSER_ENABLED=false");
        ASSERT_EQ(plan_count(w.plan, PLAN_DELETE, true), 0);
        ASSERT_EQ(w.plan->n_notes, 1);
        ASSERT_TRUE(strstr(w.plan->notes[0], "keeping oauth client \"browser-service\" of the browser module, which is off"));
        carry_out(&w);
        ASSERT_EQ(w.ledger->n_objects, 5); /* the sandbox's 4 and nap-cp */
        ASSERT_EQ(w.ledger->n_clients, 2);
        world_close(&w);
}

TEST(missing_toggle_line_deletes_nothing) {
        World w = edited(KV(BOTH), KV(BASE_KEYS, "SANDBOX_ENABLED=true"));

        ASSERT_EQ(plan_count(w.plan, PLAN_DELETE, false), 0);
        ASSERT_EQ(plan_count(w.plan, PLAN_DELETE, true), 0);
        ASSERT_EQ(w.plan->n_notes, 1);
        ASSERT_TRUE(strstr(w.plan->notes[0], "BROWSER_ENABLED is not in values.env: keeping the browser module's 5 object(s) and 1 oauth client(s)"));
        world_close(&w);
}

TEST(rename_deletes_old_before_creating_new) {
        /* (the browser's toggle is there: a missing one would keep the old
         * Secret, which the browser also owns) */
        World w = edited(KV(BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=false"),
                         KV(BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=false", "APP_PREFIX=acme",
                            "PLATFORM_IMAGE_PREFIX=ghcr.io/neutree-ai/agent-platform/nap"));

        /* nap-cp is never deleted: the plan only says it is no longer set */
        ASSERT_STREQ(changed(w.plan), "-nap-sandbox -nap-sandbox(svc) -nap-sandbox-secret +acme-sandbox-secret "
                                      "+acme-sandbox(svc) ~acme-cp +acme-sandbox ");
        ASSERT_STREQ(action(w.plan, "Service", "nap-sandbox")->reason, "no longer rendered");
        ASSERT_EQ(w.plan->n_notes, 1);
        ASSERT_TRUE(strstr(w.plan->notes[0], "no longer setting fields on Deployment nap/nap-cp, which is left as it is"));
        ASSERT_EQ(plan_forget_partials(w.ledger, w.desired), 1);
        ASSERT_NULL(ledger_find_object(w.ledger, "Deployment", "nap", "nap-cp"));
        world_close(&w);
}

TEST(ingress_switch_updates_services) {
        World w = edited(KV(BASE_KEYS, "SANDBOX_ENABLED=true"),
                         KV(BASE_KEYS, "SANDBOX_ENABLED=true", "INGRESS_MODE=external",
                            "SANDBOX_PUBLIC_URL=https://sb.example.com"));
        const PlanAction *a;

        ASSERT_STREQ(changed(w.plan), "~nap-sandbox(svc) ~nap-cp ~nap-sandbox ~sandbox-service(client) ");
        a = action(w.plan, "Service", "nap-sandbox");
        ASSERT_TRUE(has_change(a, "spec.type: \"NodePort\" → \"ClusterIP\""));
        ASSERT_TRUE(has_change(a, "spec.ports[name=http].nodePort: 30086 → (removed)"));
        world_close(&w);
}

/* The sandbox's Secret is owned by both modules (the browser reads its
 * SERVICE_KEY): it goes only when neither module keeps it. */
TEST(shared_secret_outlives_either_module) {
        World w = world_open();

        PLAN(&w, BOTH);
        ASSERT_STREQ(action(w.plan, "Secret", "nap-sandbox-secret")->module, "sandbox,browser");
        carry_out(&w);

        /* sandbox off, browser on: the Secret stays, rendered for the browser */
        PLAN(&w, BASE_KEYS, "SANDBOX_ENABLED=false", "BROWSER_ENABLED=true");
        ASSERT_STREQ(changed(w.plan), "-sandbox-image-warmer -nap-sandbox -nap-sandbox(svc) ");

        /* sandbox off, the browser's line lost: the browser keeps what it has, the Secret too */
        PLAN(&w, BASE_KEYS, "SANDBOX_ENABLED=false");
        ASSERT_STREQ(changed(w.plan), "-sandbox-image-warmer -nap-sandbox -nap-sandbox(svc) ");
        ASSERT_EQ(w.plan->n_notes, 2);
        ASSERT_TRUE(strstr(w.plan->notes[0], "keeping oauth client \"sandbox-service\""));
        ASSERT_TRUE(strstr(w.plan->notes[1], "keeping the browser module's 6 object(s)"));
        carry_out(&w);

        /* both off: now it goes, after the workloads that read it */
        PLAN(&w, BASE_KEYS, "SANDBOX_ENABLED=false", "BROWSER_ENABLED=");
        ASSERT_STREQ(changed(w.plan), "-coturn -nap-browser -coturn(svc) -nap-browser(svc) -nap-browser-secret "
                                      "-nap-sandbox-secret ");
        ASSERT_STREQ(action(w.plan, "Secret", "nap-sandbox-secret")->reason, "SANDBOX_ENABLED");
        carry_out(&w);
        ASSERT_EQ(w.ledger->n_objects, 1); /* nap-cp's public URLs: set with the modules off too */
        ASSERT_TRUE(ledger_find_object(w.ledger, "Deployment", "nap", "nap-cp"));
        world_close(&w);
}

/* nap-cp did not exist: recorded without a resourceVersion, so that an
 * unchanged pass does not look again, and said in a note; an edit of a
 * public URL tries again. */
TEST(partial_object_missing) {
        World w = world_open();

        PLAN(&w, BOTH);
        for (size_t i = 0; i < w.plan->n_actions; i++) {
                const PlanAction *a = &w.plan->actions[i];
                ASSERT_OK(plan_action_record(w.ledger, a, a->object && a->object->partial ? NULL : "1"));
        }
        ASSERT_TRUE(plan_entry_missing(ledger_find_object(w.ledger, "Deployment", "nap", "nap-cp")));
        ASSERT_TRUE(!plan_entry_missing(ledger_find_object(w.ledger, "Deployment", "nap", "nap-sandbox")));

        PLAN(&w, BOTH);
        ASSERT_TRUE(!plan_has_changes(w.plan));
        ASSERT_EQ(w.plan->n_notes, 1);
        ASSERT_TRUE(strstr(w.plan->notes[0], "Deployment nap/nap-cp (the platform's own) did not exist at the last pass"));

        PLAN(&w, BOTH, "SANDBOX_PUBLIC_URL=https://sb.example.com");
        ASSERT_EQ(action(w.plan, "Deployment", "nap-cp")->op, PLAN_UPDATE);
        ASSERT_EQ(w.plan->n_notes, 0);
        world_close(&w);
}

/* A fake cluster for plan_compute_live(): every object lives as desired
 * (its body), but for the coturn Deployment, whose pod template differs
 * when `roll` says so; nap-sandbox's Service is missing. */
typedef struct FakeCluster {
        bool roll;
} FakeCluster;

static int fake_fetch(const DesiredObject *o, cJSON **ret_would_be, cJSON **ret_live, void *userdata) {
        const FakeCluster *f = userdata;

        *ret_would_be = cJSON_Duplicate(o->body, true);
        *ret_live = streq(o->kind, "Service") && streq(o->name, "nap-sandbox") ? NULL : cJSON_Duplicate(o->body, true);
        if (f->roll && streq(o->kind, "Deployment") && streq(o->name, "coturn"))
                cJSON_AddStringToObject(cJSON_GetObjectItem(cJSON_GetObjectItem(*ret_would_be, "spec"), "template"),
                                        "x-changed", "1");
        return 0;
}

static int fake_client(const char *id, char **ret_name, char **ret_uri, void *userdata) {
        return 0;
}

static bool has_note(const Plan *p, const char *needle) {
        for (size_t i = 0; i < p->n_notes; i++)
                if (strstr(p->notes[i], needle))
                        return true;
        return false;
}

/* plan --live says how many pod templates in the cluster the apply
 * changes (their pods are replaced), naming each: none at all when it
 * takes over install.sh's workloads; the offline plan cannot know. */
TEST(live_plan_counts_pod_templates) {
        World w = world_open();
        FakeCluster f = { .roll = false };
        _cleanup_(diag_list_clear) DiagList d = { 0 };

        w.config = config_from_strv(KV(BOTH), &d);
        ASSERT_OK(template_render(w.config, &dirs, &w.desired, &d));
        /* nap-sandbox, nap-browser, coturn, the warmer, and the platform's nap-cp */
        ASSERT_OK(plan_compute_live(w.desired, w.config, w.ledger, fake_fetch, fake_client, &f, &w.plan));
        ASSERT_EQ(w.plan->n_pod_templates, 5);
        ASSERT_EQ(w.plan->n_pod_templates_changed, 0);
        ASSERT_TRUE(has_note(w.plan, "pod templates: none of the 5 in the cluster changes: no pod is restarted"));
        w.plan = plan_free(w.plan);

        f.roll = true;
        ASSERT_OK(plan_compute_live(w.desired, w.config, w.ledger, fake_fetch, fake_client, &f, &w.plan));
        ASSERT_EQ(w.plan->n_pod_templates_changed, 1);
        ASSERT_TRUE(has_note(w.plan, "the pod template of Deployment nap/coturn changes: its pods are replaced"));
        ASSERT_TRUE(has_note(w.plan, "pod templates: 1 of the 5 in the cluster change: their pods are replaced"));
        w.plan = plan_free(w.plan);

        ASSERT_OK(plan_compute(w.desired, w.config, w.ledger, &w.plan));
        ASSERT_TRUE(!has_note(w.plan, "pod templates"));
        world_close(&w);
}

TEST_MAIN(T(first_pass_creates_everything_then_nothing), T(node_port_edit_touches_three_things),
          T(secret_edit_rolls_only_its_users_and_hides_values), T(toggle_off_deletes_in_reverse_order),
          T(missing_toggle_line_deletes_nothing), T(rename_deletes_old_before_creating_new),
          T(ingress_switch_updates_services), T(shared_secret_outlives_either_module), T(partial_object_missing),
          T(live_plan_counts_pod_templates))
