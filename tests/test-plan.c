/* SPDX-License-Identifier: Apache-2.0 */
#include <unistd.h>

#include "config-util.h"
#include "plan.h"
#include "util/fs.h"

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
        ASSERT_OK(plan_compute(w->desired, w->config, w->ledger, NULL, &w->plan));
}
#define KV(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define PLAN(w, ...) plan_for((w), KV(__VA_ARGS__))

/* Pretends every action succeeded, and records the platform keys, as a pass does. */
static void carry_out(const World *w) {
        for (size_t i = 0; i < w->plan->n_actions; i++)
                ASSERT_OK(plan_action_record(w->ledger, &w->plan->actions[i], "1", "uid-1"));
        ASSERT_TRUE(plan_platform_keys_record(w->ledger, w->plan) >= 0);
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
        /* the platform's nap-cp: never created, never adopted, only its three env entries */
        const PlanAction *cp = action(w.plan, "Deployment", "nap-cp");
        ASSERT_TRUE(cp->op == PLAN_UPDATE && !cp->adopt);
        ASSERT_EQ(cp->n_changes, 3);
        ASSERT_TRUE(strstr(cp->changes[2], "spec.template.spec.containers[name=control-plane].env[name=WEB_PUBLIC_URL]"
                                           ".value: (added) \"http://203.0.113.7:30080\""));
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

/* Entries without the agent's seal (an older ledger's, or written into the
 * file by someone else) are checked against the configuration before any
 * plan acts on them; sealed ones of an earlier NAMESPACE are the agent's. */
TEST(unsealed_entries_checked_against_the_config) {
        static const struct {
                const char *kind, *ns;
                bool ok;
        } cases[] = {
                { "Secret", "nap", true },           /* could have been applied: sealed from now on */
                { "Service", "nap", true },
                { "Secret", "kube-system", false },  /* another namespace */
                { "ConfigMap", "default", false },
                { "Pod", "nap", false },             /* a kind nap-agent never renders */
                { "ClusterRole", NULL, false },      /* cluster-scoped */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                World w = edited(KV(BOTH), KV(BOTH));
                _cleanup_free_ char *message = NULL;
                LedgerObject *e;
                int r;

                ASSERT_OK(ledger_record_object(w.ledger, "v1", cases[i].kind, cases[i].ns, "victim", "sandbox", "",
                                               NULL, NULL, NULL));
                e = ledger_find_object(w.ledger, cases[i].kind, cases[i].ns, "victim");
                e->sealed = false; /* as read from a file that did not seal it */
                r = plan_check_ledger(w.desired, w.config, w.ledger, &message);
                if (cases[i].ok) {
                        ASSERT_OK(r);
                        ASSERT_TRUE(e->sealed && !w.ledger->refused);
                } else {
                        ASSERT_EQ(r, -EUCLEAN);
                        ASSERT_TRUE(w.ledger->refused);
                        if (!message || !strstr(message, w.ledger->path) || !strstr(message, "victim") ||
                            !strstr(message, "cannot have applied"))
                                TEST_FAIL("%s %s: %s", cases[i].kind, strna(cases[i].ns), message ? message : "(none)");
                }
                world_close(&w);
        }

        /* NAMESPACE moved: the sealed entries of the old one pass (and are pruned). */
        World w = edited(KV(BOTH), KV(BOTH, "NAMESPACE=nap-moved"));
        _cleanup_free_ char *message = NULL;
        ASSERT_OK(plan_check_ledger(w.desired, w.config, w.ledger, &message));
        ASSERT_EQ(action(w.plan, "Service", "coturn")->op, PLAN_DELETE); /* the old one, in nap */
        /* ... unless unsealed: an older ledger's entries of another namespace are refused */
        ledger_find_object(w.ledger, "Service", "nap", "coturn")->sealed = false;
        ASSERT_EQ(plan_check_ledger(w.desired, w.config, w.ledger, &message), -EUCLEAN);
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
                ASSERT_OK(plan_action_record(w.ledger, a, a->object && a->object->partial ? NULL : "1", NULL));
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

/* Issue 19, item 4: a client recorded in one database, planned for another. */
static void plan_in(World *w, const LedgerDatabase *db, const char *const *kv) {
        _cleanup_(diag_list_clear) DiagList d = { 0 };

        world_drop_plan(w);
        w->config = config_from_strv(kv, &d);
        ASSERT_EQ(diag_has_errors(&d), 0);
        ASSERT_OK(template_render(w->config, &dirs, &w->desired, &d));
        ASSERT_OK(plan_compute(w->desired, w->config, w->ledger, db, &w->plan));
}

TEST(new_database_registers_every_client) {
        LedgerDatabase a = { .host = (char *) "10.0.0.1", .port = (char *) "5432", .name = (char *) "nap",
                             .system_identifier = (char *) "77" };
        LedgerDatabase b = { .host = (char *) "10.0.0.1", .port = (char *) "5432", .name = (char *) "nap2" };
        LedgerDatabase service = { .port = (char *) "5432", .name = (char *) "nap" };
        World w = world_open();

        plan_in(&w, &a, KV(BOTH));
        for (size_t i = 0; i < w.plan->n_actions; i++) {
                const PlanAction *x = &w.plan->actions[i];
                ASSERT_OK(x->is_client ? plan_action_record_client(w.ledger, x, &a)
                                       : plan_action_record(w.ledger, x, "1", NULL));
        }
        plan_in(&w, &a, KV(BOTH));
        ASSERT_TRUE(!plan_has_changes(w.plan));
        /* the Service's address is not known offline: the same port and name are no change */
        plan_in(&w, &service, KV(BOTH));
        ASSERT_TRUE(!plan_has_changes(w.plan));
        plan_in(&w, NULL, KV(BOTH));
        ASSERT_TRUE(!plan_has_changes(w.plan));

        plan_in(&w, &b, KV(BOTH));
        ASSERT_STREQ(changed(w.plan), "~browser-service(client) ~sandbox-service(client) ");
        const PlanAction *sb = action(w.plan, "client", "sandbox-service");
        ASSERT_TRUE(sb->new_database);
        ASSERT_EQ(sb->n_changes, 1);
        ASSERT_STREQ(sb->changes[0], "database: \"nap\" at 10.0.0.1:5432 (system identifier 77) → \"nap2\" at "
                                     "10.0.0.1:5432 (registered in the new database)");

        /* DB_NAME changed, the host read later: the Service is named */
        LedgerDatabase svc2 = { .port = (char *) "5432", .name = (char *) "other" };
        plan_in(&w, &svc2, KV(BOTH));
        ASSERT_TRUE(has_change(action(w.plan, "client", "browser-service"), "→ \"other\" at nap-pg-rw:5432"));

        /* a URI change says the rest of the array stays */
        plan_in(&w, &a, KV(BOTH, "SANDBOX_NODE_PORT=31001"));
        ASSERT_TRUE(has_change(action(w.plan, "client", "sandbox-service"),
                               "redirect_uris: \"http://203.0.113.7:30086/api/auth/callback\" → "
                               "\"http://203.0.113.7:31001/api/auth/callback\" (any other URI in the row stays)"));
        ASSERT_TRUE(!action(w.plan, "client", "sandbox-service")->new_database);
        world_close(&w);
}

/* The names of the platform keys the plan says changed, in order. */
static char *platform_changed(const Plan *p) {
        static char buf[512];
        buf[0] = 0;
        for (size_t i = 0; i < p->n_platform_keys; i++)
                if (p->platform_keys[i].changed) {
                        strcat(buf, buf[0] ? " " : "");
                        strcat(buf, p->platform_keys[i].name);
                }
        return buf;
}

/* A key only install.sh applies: said by the plan until a pass recorded it,
 * then not again; resolved as install.sh resolves it; kept as a keyed
 * digest, never as its value. */
TEST(platform_key_edit_is_noticed_once) {
        World w = world_open();
        _cleanup_free_ char *notice = NULL, *text = NULL, *path = NULL;

        PLAN(&w, BOTH, "LDAP_URL=ldap://before.example");
        ASSERT_STREQ(platform_changed(w.plan), ""); /* no baseline yet: nothing to report */
        ASSERT_EQ(plan_platform_keys_record(w.ledger, w.plan), 1);
        ASSERT_EQ(plan_platform_keys_record(w.ledger, w.plan), 0);
        carry_out(&w);

        PLAN(&w, BOTH, "INGRESS_MODE=external", "PG_PASSWORD=s3cret-pg-password-value");
        ASSERT_STREQ(platform_changed(w.plan), "INGRESS_MODE PG_PASSWORD");
        ASSERT_EQ(plan_platform_keys_changed(w.plan), 2);
        ASSERT_TRUE(has_change(action(w.plan, "Service", "nap-sandbox"), "type")); /* the modules follow it */
        for (size_t i = 0; i < w.plan->n_platform_keys; i++)
                if (streq(w.plan->platform_keys[i].name, "INGRESS_MODE"))
                        ASSERT_OK(plan_platform_key_notice(&w.plan->platform_keys[i], &notice));
        ASSERT_TRUE(strstr(notice, "INGRESS_MODE changed") && strstr(notice, "install.sh --manifests-only"));
        PLAN(&w, BOTH, "INGRESS_MODE=external", "PG_PASSWORD=s3cret-pg-password-value");
        ASSERT_STREQ(platform_changed(w.plan), "INGRESS_MODE PG_PASSWORD"); /* plan says it until a pass ran */
        carry_out(&w);
        PLAN(&w, BOTH, "INGRESS_MODE=external", "PG_PASSWORD=s3cret-pg-password-value");
        ASSERT_STREQ(platform_changed(w.plan), ""); /* once per edit */
        ASSERT_OK(ledger_commit(w.ledger));
        ASSERT_TRUE(asprintf(&path, "%s/ledger.json", w.dir) > 0);
        ASSERT_OK(read_full_file(path, 1 << 20, &text, NULL));
        ASSERT_TRUE(strstr(text, "\"platformKeys\"") && strstr(text, "\"PG_PASSWORD\""));
        ASSERT_NULL(strstr(text, "s3cret-pg-password-value"));
        ASSERT_NULL(strstr(text, "ldap://"));

        /* as install.sh reads them: LDAP fields only with LDAP on; an empty value is the default */
        PLAN(&w, BOTH, "INGRESS_MODE=external", "PG_PASSWORD=s3cret-pg-password-value", "LDAP_URL=ldap://after.example",
             "AFS_IMAGE=", "AGENT_IMAGE_PREFIX=ghcr.io/neutree-ai/agent-platform/nap-agent");
        ASSERT_STREQ(platform_changed(w.plan), "");
        PLAN(&w, BOTH, "INGRESS_MODE=external", "PG_PASSWORD=s3cret-pg-password-value", "LDAP_URL=ldap://after.example",
             "LDAP_ENABLED=true", "AFS_IMAGE=mirror.example/afs:1");
        ASSERT_STREQ(platform_changed(w.plan), "AFS_IMAGE LDAP_ENABLED LDAP_URL");
        /* a default that follows another key: FILES_PUBLIC_URL after WEB_PUBLIC_URL after NAP_HOST */
        PLAN(&w, BASE_KEYS, "SANDBOX_ENABLED=true", "BROWSER_ENABLED=true", "NAP_HOST=198.51.100.9",
             "INGRESS_MODE=external", "PG_PASSWORD=s3cret-pg-password-value", "LDAP_URL=ldap://before.example");
        ASSERT_STREQ(platform_changed(w.plan), "FILES_PUBLIC_URL");
        world_close(&w);
}

#define LOGIN "REGISTRY_SERVER=registry.example.com", "REGISTRY_USERNAME=robot"

/* The registry login's Secret is created once and then never written or
 * deleted; the ServiceAccount's entry is an update until recorded, never
 * deleted either (plan-kinds.c). */
TEST(registry_login_is_made_once) {
        World w = world_open();
        const PlanAction *sec, *sa;

        PLAN(&w, BOTH, LOGIN, "REGISTRY_PASSWORD=first-password-0123456789");
        sec = action(w.plan, "Secret", "regcred");
        sa = action(w.plan, "ServiceAccount", "default");
        ASSERT_TRUE(sec && sec->op == PLAN_CREATE && !sec->adopt);
        ASSERT_TRUE(sa && sa->op == PLAN_UPDATE && !sa->adopt && sa->n_changes == 1);
        ASSERT_TRUE(has_change(sa, "imagePullSecrets[name=regcred]: (added, beside the entries already there)"));
        carry_out(&w);
        ASSERT_TRUE(ledger_find_object(w.ledger, "Secret", "nap", "regcred")->create_only);

        /* a new password: never written, and said */
        PLAN(&w, BOTH, LOGIN, "REGISTRY_PASSWORD=second-password-0123456789");
        ASSERT_EQ(action(w.plan, "Secret", "regcred")->op, PLAN_UNCHANGED);
        ASSERT_EQ(action(w.plan, "ServiceAccount", "default")->op, PLAN_UNCHANGED);
        ASSERT_TRUE(w.plan->n_notes >= 1 && strstr(w.plan->notes[w.plan->n_notes - 1], "never overwritten"));

        /* the login gone: nothing deleted, both left as they are and forgotten */
        PLAN(&w, BOTH);
        ASSERT_STREQ(changed(w.plan), "~coturn "); /* its imagePullSecrets; no delete */
        ASSERT_EQ(plan_forget_partials(w.ledger, w.desired), 2);
        ASSERT_NULL(ledger_find_object(w.ledger, "Secret", "nap", "regcred"));
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

static int fake_client(const char *id, char **ret_name, Strv *ret_redirect_uris, void *userdata) {
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
        ASSERT_OK(plan_compute_live(w.desired, w.config, w.ledger, NULL, fake_fetch, fake_client, &f, &w.plan));
        ASSERT_EQ(w.plan->n_pod_templates, 5);
        ASSERT_EQ(w.plan->n_pod_templates_changed, 0);
        ASSERT_TRUE(has_note(w.plan, "pod templates: none of the 5 in the cluster changes: no pod is restarted"));
        w.plan = plan_free(w.plan);

        f.roll = true;
        ASSERT_OK(plan_compute_live(w.desired, w.config, w.ledger, NULL, fake_fetch, fake_client, &f, &w.plan));
        ASSERT_EQ(w.plan->n_pod_templates_changed, 1);
        ASSERT_TRUE(has_note(w.plan, "the pod template of Deployment nap/coturn changes: its pods are replaced"));
        ASSERT_TRUE(has_note(w.plan, "pod templates: 1 of the 5 in the cluster change: their pods are replaced"));
        w.plan = plan_free(w.plan);

        ASSERT_OK(plan_compute(w.desired, w.config, w.ledger, NULL, &w.plan));
        ASSERT_TRUE(!has_note(w.plan, "pod templates"));
        world_close(&w);
}

TEST_MAIN(T(unsealed_entries_checked_against_the_config), T(first_pass_creates_everything_then_nothing),
          T(node_port_edit_touches_three_things),
          T(secret_edit_rolls_only_its_users_and_hides_values), T(toggle_off_deletes_in_reverse_order),
          T(missing_toggle_line_deletes_nothing), T(rename_deletes_old_before_creating_new),
          T(ingress_switch_updates_services), T(shared_secret_outlives_either_module), T(partial_object_missing),
          T(new_database_registers_every_client), T(platform_key_edit_is_noticed_once),
          T(registry_login_is_made_once), T(live_plan_counts_pod_templates))
