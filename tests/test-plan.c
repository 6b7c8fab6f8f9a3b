/* SPDX-License-Identifier: Apache-2.0 */
#include <unistd.h>

#include "config-util.h"
#include "plan.h"

static const TemplateDirs dirs = { .dir = NAP_TEST_TEMPLATES, .override_dir = "/nonexistent/nap-test" };

typedef struct World {
        Config *config;
        DesiredSet *desired;
        Plan *plan;
} World;

static void world_free(World *w) {
        plan_free(w->plan);
        desired_set_free(w->desired);
        config_free(w->config);
        *w = (World) { 0 };
}

/* Config + render + plan against l. */
static void plan_for(World *w, Ledger *l, const char *const *kv) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };

        world_free(w);
        w->config = config_from_strv(kv, &d);
        ASSERT_EQ(diag_has_errors(&d), 0);
        ASSERT_OK(template_render(w->config, &dirs, &w->desired, &d));
        ASSERT_OK(plan_compute(w->desired, w->config, l, &w->plan));
}
#define PLAN(w, l, ...) plan_for((w), (l), (const char *const[]) { __VA_ARGS__, NULL })

/* Pretends every action succeeded. */
static void carry_out(const World *w, Ledger *l) {
        for (size_t i = 0; i < w->plan->n_actions; i++)
                ASSERT_OK(plan_action_record(l, &w->plan->actions[i], "1"));
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

static char *tmpdir(void) {
        char t[] = "/tmp/nap-plan-XXXXXX";
        ASSERT_TRUE(mkdtemp(t));
        return strdup(t);
}

#define BOTH BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true"

static Ledger *fresh_ledger(char **ret_dir) {
        Ledger *l = NULL;
        *ret_dir = tmpdir();
        ASSERT_OK(ledger_open(*ret_dir, &l, NULL));
        return l;
}

static void cleanup_dir(char *dir) {
        _cleanup_free_ char *cmd = NULL;
        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        ASSERT_EQ(system(cmd), 0);
        free(dir);
}

TEST(first_pass_creates_everything_then_nothing) {
        char *dir;
        Ledger *l = fresh_ledger(&dir);
        World w = { 0 };

        PLAN(&w, l, BOTH);
        ASSERT_EQ(plan_count(w.plan, PLAN_CREATE, false), 9);
        ASSERT_EQ(plan_count(w.plan, PLAN_CREATE, true), 2);
        ASSERT_TRUE(action(w.plan, "Secret", "nap-sandbox-secret")->adopt);
        /* the platform's nap-cp: never created, never adopted, only its two env entries */
        const PlanAction *cp = action(w.plan, "Deployment", "nap-cp");
        ASSERT_TRUE(cp->op == PLAN_UPDATE && !cp->adopt);
        ASSERT_EQ(cp->n_changes, 2);
        ASSERT_TRUE(strstr(cp->changes[1], "spec.template.spec.containers[name=control-plane].env[name=SANDBOX_PUBLIC_URL]"
                                           ".value: (added) \"http://203.0.113.7:30086\""));
        carry_out(&w, l);

        PLAN(&w, l, BOTH, "A_COMMENT_CHANGED_NOTHING=1");
        ASSERT_TRUE(!plan_has_changes(w.plan));
        ASSERT_EQ(plan_count(w.plan, PLAN_UNCHANGED, false), 10);
        world_free(&w);
        ledger_free(l);
        cleanup_dir(dir);
}

TEST(node_port_edit_touches_three_things) {
        char *dir;
        Ledger *l = fresh_ledger(&dir);
        World w = { 0 };

        PLAN(&w, l, BOTH);
        carry_out(&w, l);
        PLAN(&w, l, BOTH, "BROWSER_NODE_PORT=31000");
        /* nap-cp builds the live-view links from BROWSER_PUBLIC_URL */
        ASSERT_STREQ(changed(w.plan), "~nap-browser(svc) ~nap-browser ~nap-cp ~browser-service(client) ");
        const PlanAction *a = action(w.plan, "Deployment", "nap-browser");
        bool seen = false;
        for (size_t i = 0; i < a->n_changes; i++)
                seen = seen || strstr(a->changes[i], "env[name=BROWSER_SERVICE_URL].value: \"http://203.0.113.7:30085\" → \"http://203.0.113.7:31000\"");
        ASSERT_TRUE(seen);
        world_free(&w);
        ledger_free(l);
        cleanup_dir(dir);
}

TEST(secret_edit_rolls_only_its_users_and_hides_values) {
        char *dir;
        Ledger *l = fresh_ledger(&dir);
        World w = { 0 };
        FILE *f;
        char *text = NULL;
        size_t len = 0;

        PLAN(&w, l, BOTH);
        carry_out(&w, l);
        PLAN(&w, l, BOTH, "SANDBOX_JWT_SECRET=a-brand-new-secret-0123456789abcdef0123");
        ASSERT_STREQ(changed(w.plan), "~nap-sandbox-secret ~nap-sandbox ");
        f = open_memstream(&text, &len);
        plan_print(w.plan, f, false);
        fclose(f);
        ASSERT_NULL(strstr(text, "a-brand-new-secret"));
        ASSERT_NULL(strstr(text, "sandbox-jwt-0123456789abcdef"));
        ASSERT_TRUE(strstr(text, "data.JWT_SECRET: <redacted> → <redacted> (changed)"));
        free(text);
        world_free(&w);
        ledger_free(l);
        cleanup_dir(dir);
}

TEST(toggle_off_deletes_in_reverse_order) {
        char *dir;
        Ledger *l = fresh_ledger(&dir);
        World w = { 0 };

        PLAN(&w, l, BOTH);
        carry_out(&w, l);
        PLAN(&w, l, BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=false");
        /* The oauth row stays: deleting it would cascade to the client's tokens. */
        ASSERT_STREQ(changed(w.plan), "-coturn -nap-browser -coturn(svc) -nap-browser(svc) -nap-browser-secret ");
        ASSERT_STREQ(action(w.plan, "Deployment", "coturn")->reason, "BROWSER_ENABLED=false");
        ASSERT_EQ(plan_count(w.plan, PLAN_DELETE, true), 0);
        ASSERT_EQ(w.plan->n_notes, 1);
        ASSERT_TRUE(strstr(w.plan->notes[0], "keeping oauth client \"browser-service\" of the browser module, which is off"));
        carry_out(&w, l);
        ASSERT_EQ(l->n_objects, 5); /* the sandbox's 4 and nap-cp */
        ASSERT_EQ(l->n_clients, 2);
        world_free(&w);
        ledger_free(l);
        cleanup_dir(dir);
}

TEST(missing_toggle_line_deletes_nothing) {
        char *dir;
        Ledger *l = fresh_ledger(&dir);
        World w = { 0 };

        PLAN(&w, l, BOTH);
        carry_out(&w, l);
        PLAN(&w, l, BASE_KEYS, "SANDBOX_ENABLED=true");
        ASSERT_EQ(plan_count(w.plan, PLAN_DELETE, false), 0);
        ASSERT_EQ(plan_count(w.plan, PLAN_DELETE, true), 0);
        ASSERT_EQ(w.plan->n_notes, 1);
        ASSERT_TRUE(strstr(w.plan->notes[0], "BROWSER_ENABLED is not in values.env: keeping the browser module's 5 object(s) and 1 oauth client(s)"));
        world_free(&w);
        ledger_free(l);
        cleanup_dir(dir);
}

TEST(rename_deletes_old_before_creating_new) {
        char *dir;
        Ledger *l = fresh_ledger(&dir);
        World w = { 0 };

        PLAN(&w, l, BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=false");
        carry_out(&w, l);
        /* (the browser's toggle is there: a missing one would keep the old
         * Secret, which the browser also owns) */
        PLAN(&w, l, BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=false", "APP_PREFIX=acme",
             "PLATFORM_IMAGE_PREFIX=ghcr.io/neutree-ai/agent-platform/nap");
        /* nap-cp is never deleted: the plan only says it is no longer set */
        ASSERT_STREQ(changed(w.plan), "-nap-sandbox -nap-sandbox(svc) -nap-sandbox-secret +acme-sandbox-secret "
                                      "+acme-sandbox(svc) ~acme-cp +acme-sandbox ");
        ASSERT_STREQ(action(w.plan, "Service", "nap-sandbox")->reason, "no longer rendered");
        ASSERT_EQ(w.plan->n_notes, 1);
        ASSERT_TRUE(strstr(w.plan->notes[0], "no longer setting fields on Deployment nap/nap-cp, which is left as it is"));
        ASSERT_EQ(plan_forget_partials(l, w.desired), 1);
        ASSERT_NULL(ledger_find_object(l, "Deployment", "nap", "nap-cp"));
        world_free(&w);
        ledger_free(l);
        cleanup_dir(dir);
}

TEST(ingress_switch_updates_services) {
        char *dir;
        Ledger *l = fresh_ledger(&dir);
        World w = { 0 };

        PLAN(&w, l, BASE_KEYS, "SANDBOX_ENABLED=true");
        carry_out(&w, l);
        PLAN(&w, l, BASE_KEYS, "SANDBOX_ENABLED=true", "INGRESS_MODE=external",
             "SANDBOX_PUBLIC_URL=https://sb.example.com");
        ASSERT_STREQ(changed(w.plan), "~nap-sandbox(svc) ~nap-cp ~nap-sandbox ~sandbox-service(client) ");
        const PlanAction *a = action(w.plan, "Service", "nap-sandbox");
        bool type = false, port = false;
        for (size_t i = 0; i < a->n_changes; i++) {
                type = type || strstr(a->changes[i], "spec.type: \"NodePort\" → \"ClusterIP\"");
                port = port || strstr(a->changes[i], "spec.ports[name=http].nodePort: 30086 → (removed)");
        }
        ASSERT_TRUE(type && port);
        world_free(&w);
        ledger_free(l);
        cleanup_dir(dir);
}

/* The sandbox's Secret is owned by both modules (the browser reads its
 * SERVICE_KEY): it goes only when neither module keeps it. */
TEST(shared_secret_outlives_either_module) {
        char *dir;
        Ledger *l = fresh_ledger(&dir);
        World w = { 0 };

        PLAN(&w, l, BOTH);
        ASSERT_STREQ(action(w.plan, "Secret", "nap-sandbox-secret")->module, "sandbox,browser");
        carry_out(&w, l);

        /* sandbox off, browser on: the Secret stays, rendered for the browser */
        PLAN(&w, l, BASE_KEYS, "SANDBOX_ENABLED=false", "BROWSER_ENABLED=true");
        ASSERT_STREQ(changed(w.plan), "-sandbox-image-warmer -nap-sandbox -nap-sandbox(svc) ");

        /* sandbox off, the browser's line lost: the browser keeps what it has, the Secret too */
        PLAN(&w, l, BASE_KEYS, "SANDBOX_ENABLED=false");
        ASSERT_STREQ(changed(w.plan), "-sandbox-image-warmer -nap-sandbox -nap-sandbox(svc) ");
        ASSERT_EQ(w.plan->n_notes, 2);
        ASSERT_TRUE(strstr(w.plan->notes[0], "keeping oauth client \"sandbox-service\""));
        ASSERT_TRUE(strstr(w.plan->notes[1], "keeping the browser module's 6 object(s)"));
        carry_out(&w, l);

        /* both off: now it goes, after the workloads that read it */
        PLAN(&w, l, BASE_KEYS, "SANDBOX_ENABLED=false", "BROWSER_ENABLED=");
        ASSERT_STREQ(changed(w.plan), "-coturn -nap-browser -coturn(svc) -nap-browser(svc) -nap-browser-secret "
                                      "-nap-sandbox-secret ");
        ASSERT_STREQ(action(w.plan, "Secret", "nap-sandbox-secret")->reason, "SANDBOX_ENABLED");
        carry_out(&w, l);
        ASSERT_EQ(l->n_objects, 1); /* nap-cp's public URLs: set with the modules off too */
        ASSERT_TRUE(ledger_find_object(l, "Deployment", "nap", "nap-cp"));
        world_free(&w);
        ledger_free(l);
        cleanup_dir(dir);
}

/* nap-cp did not exist: recorded without a resourceVersion, so that an
 * unchanged pass does not look again, and said in a note; an edit of a
 * public URL tries again. */
TEST(partial_object_missing) {
        char *dir;
        Ledger *l = fresh_ledger(&dir);
        World w = { 0 };

        PLAN(&w, l, BOTH);
        for (size_t i = 0; i < w.plan->n_actions; i++) {
                const PlanAction *a = &w.plan->actions[i];
                ASSERT_OK(plan_action_record(l, a, a->object && a->object->partial ? NULL : "1"));
        }
        ASSERT_TRUE(plan_entry_missing(ledger_find_object(l, "Deployment", "nap", "nap-cp")));
        ASSERT_TRUE(!plan_entry_missing(ledger_find_object(l, "Deployment", "nap", "nap-sandbox")));

        PLAN(&w, l, BOTH);
        ASSERT_TRUE(!plan_has_changes(w.plan));
        ASSERT_EQ(w.plan->n_notes, 1);
        ASSERT_TRUE(strstr(w.plan->notes[0], "Deployment nap/nap-cp (the platform's own) did not exist at the last pass"));

        PLAN(&w, l, BOTH, "SANDBOX_PUBLIC_URL=https://sb.example.com");
        ASSERT_EQ(action(w.plan, "Deployment", "nap-cp")->op, PLAN_UPDATE);
        ASSERT_EQ(w.plan->n_notes, 0);
        world_free(&w);
        ledger_free(l);
        cleanup_dir(dir);
}

TEST_MAIN(T(first_pass_creates_everything_then_nothing), T(node_port_edit_touches_three_things),
          T(secret_edit_rolls_only_its_users_and_hides_values), T(toggle_off_deletes_in_reverse_order),
          T(missing_toggle_line_deletes_nothing), T(rename_deletes_old_before_creating_new),
          T(ingress_switch_updates_services), T(shared_secret_outlives_either_module), T(partial_object_missing))
