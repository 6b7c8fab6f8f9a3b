/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `nap-agent doctor`: runs the operator's debugging list live, in its
 * order, and prints the report (human or JSON). The checks of values.env,
 * the API server and the agent itself are here; the oauth_clients rows and
 * the workloads have files of their own (doctor-internal.h).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-check.h"
#include "doctor-internal.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strbuf.h"

void doctor_add(DoctorCtx *ctx, DoctorStatus st, const char *id, const char *fix, const char *format, ...) {
        DoctorReport *r;
        DoctorCheck *c;
        va_list ap;

        assert(ctx);
        assert(st >= DOCTOR_OK && st <= DOCTOR_SKIP);
        assert(id);
        assert(format);

        r = ctx->report;
        c = realloc(r->checks, (r->n_checks + 1) * sizeof *c);
        if (!c) {
                ctx->error = -ENOMEM;
                return;
        }
        r->checks = c;
        c = &r->checks[r->n_checks];
        *c = (DoctorCheck) { .status = st, .id = strdup(id), .fix = fix ? strdup(fix) : NULL };
        va_start(ap, format);
        if (vasprintf(&c->summary, format, ap) < 0)
                c->summary = NULL;
        va_end(ap);
        if (!c->id || !c->summary || (fix && !c->fix)) {
                ctx->error = -ENOMEM;
                free(c->id);
                free(c->summary);
                free(c->fix);
                return;
        }
        r->n_checks++;
}

const char *doctor_cget(DoctorCtx *ctx, const char *name) {
        const char *v;

        assert(ctx);
        assert(name);

        v = config_get(ctx->config, name);
        return v ? v : "";
}

/* ---- 1. values.env ------------------------------------------------------ */

/* A mutable tag: install.sh restarted the workloads on every run so that a
 * re-pushed image was pulled; server-side apply of an unchanged pod
 * template does not, so that is the operator's `nap-agent restart` now. */
static void check_image_tag(DoctorCtx *ctx) {
        const char *tag = doctor_cget(ctx, "IMAGE_TAG");
        bool on = config_module_enabled(ctx->config, MODULE_SANDBOX) ||
                  config_module_enabled(ctx->config, MODULE_BROWSER);

        if (streq(tag, "latest") && on)
                doctor_add(ctx, DOCTOR_WARN, "values.image_tag",
                           "nap-agent restart (after each push), or pin IMAGE_TAG to a release",
                           "IMAGE_TAG=latest: an image pushed again under it is pulled only when the workloads "
                           "restart, which applying values.env never does");
        else
                doctor_add(ctx, DOCTOR_OK, "values.image_tag", NULL, "IMAGE_TAG=%s%s", tag,
                           on ? "" : " (no module is on)");
}

static void check_values(DoctorCtx *ctx) {
        const char *path = manager_options(ctx->m)->values_path;
        _cleanup_free_ char *why = NULL;
        struct stat st;
        int r;

        r = pass_load_desired(ctx->m, &ctx->config, &ctx->desired, &why);
        if (r < 0) {
                _cleanup_free_ char *fix = NULL;
                if (asprintf(&fix, "nap-agent check --values %s", path) < 0)
                        fix = NULL;
                doctor_add(ctx, DOCTOR_FAIL, "values.valid", fix, "%s", why ? why : STRERROR(r));
        } else
                doctor_add(ctx, DOCTOR_OK, "values.valid", NULL, "%s is valid: sandbox %s, browser %s", path,
                           config_module_enabled(ctx->config, MODULE_SANDBOX) ? "on" : "off",
                           config_module_enabled(ctx->config, MODULE_BROWSER) ? "on" : "off");
        if (stat(path, &st) < 0)
                return; /* missing: values.valid said so */
        if (st.st_mode & 0004) {
                _cleanup_free_ char *fix = NULL;
                if (asprintf(&fix, "chmod 0640 %s", path) < 0)
                        fix = NULL;
                doctor_add(ctx, DOCTOR_WARN, "values.permissions", fix,
                           "%s is world-readable (mode %04o) and holds secrets", path, st.st_mode & 07777);
        } else
                doctor_add(ctx, DOCTOR_OK, "values.permissions", NULL, "%s is not world-readable (mode %04o)", path,
                           st.st_mode & 07777);
        if (!ctx->config)
                return;
        const EnvEntry *tos = envfile_get(ctx->config->env, "TOS_HOST");
        const EnvEntry *nap = envfile_get(ctx->config->env, "NAP_HOST");
        if (tos && nap && !streq(tos->value, nap->value))
                doctor_add(ctx, DOCTOR_WARN, "values.host", "remove the TOS_HOST line; NAP_HOST wins",
                           "TOS_HOST and NAP_HOST differ; NAP_HOST is used");
        else if (tos && !nap)
                doctor_add(ctx, DOCTOR_OK, "values.host", NULL,
                           "TOS_HOST is set (NAP_HOST is its newer name; either works)");
        else if (tos)
                doctor_add(ctx, DOCTOR_OK, "values.host", NULL, "TOS_HOST and NAP_HOST agree");
        else if (nap)
                doctor_add(ctx, DOCTOR_OK, "values.host", NULL, "NAP_HOST is set");
        else
                doctor_add(ctx, DOCTOR_OK, "values.host", NULL,
                           "neither NAP_HOST nor TOS_HOST is set (the default is used)");
        check_image_tag(ctx);
}

/* ---- 2. API server, namespace, RBAC ---------------------------------------- */

static bool can(DoctorCtx *ctx, const char *verb, const char *group, const char *resource, const char **ret_reason) {
        _cleanup_free_ char *body = NULL;
        KubeError err = { 0 };
        cJSON *resp = NULL;
        bool allowed = false;

        if (asprintf(&body,
                     "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SelfSubjectAccessReview\","
                     "\"spec\":{\"resourceAttributes\":{\"namespace\":\"%s\",\"verb\":\"%s\",\"group\":\"%s\","
                     "\"resource\":\"%s\"}}}",
                     doctor_cget(ctx, "NAMESPACE"), verb, group, resource) < 0)
                return false;
        cJSON *j = cJSON_Parse(body);
        int r = kube_create_path(ctx->kube, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", j, &resp, &err);
        cJSON_Delete(j);
        if (r >= 0) {
                const cJSON *st = cJSON_GetObjectItem(resp, "status");
                allowed = cJSON_IsTrue(cJSON_GetObjectItem(st, "allowed"));
        }
        if (r < 0)
                *ret_reason = "the review itself was refused";
        cJSON_Delete(resp);
        return allowed;
}

static void check_rbac(DoctorCtx *ctx) {
        static const char *const verbs[] = { "get", "patch", "delete" };
        static const char *const res[][2] = { { "", "secrets" }, { "", "services" }, { "apps", "deployments" } };
        StrBuf missing = { 0 };
        const char *reason = NULL;

        for (size_t i = 0; i < ELEMENTSOF(res); i++)
                for (size_t v = 0; v < ELEMENTSOF(verbs); v++)
                        if (!can(ctx, verbs[v], res[i][0], res[i][1], &reason))
                                strbuf_printf(&missing, "%s%s %s", missing.len ? ", " : "", verbs[v], res[i][1]);
        _cleanup_free_ char *m = strbuf_steal(&missing);
        if (m && *m)
                doctor_add(
                        ctx, DOCTOR_FAIL, "kube.rbac",
                        "grant the agent's user a Role with get, patch and delete on secrets, services and deployments",
                        "RBAC denies in namespace '%s': %s%s%s", doctor_cget(ctx, "NAMESPACE"), m, reason ? "; " : "",
                        reason ? reason : "");
        else
                doctor_add(ctx, DOCTOR_OK, "kube.rbac", NULL,
                           "RBAC allows get, patch and delete on secrets, services and deployments in '%s'",
                           doctor_cget(ctx, "NAMESPACE"));
}

static void check_kube(DoctorCtx *ctx) {
        KubeError err = { 0 };
        cJSON *v = NULL;
        int r;

        r = manager_kube(ctx->m, ctx->config, &ctx->kube);
        if (r < 0) {
                ctx->kube = NULL;
                doctor_add(ctx, DOCTOR_FAIL, "kube.reachable", "pass --kubeconfig, or set KUBECONFIG in values.env",
                           "no usable kubeconfig: %s", STRERROR(r));
                return;
        }
        r = kube_get_path(ctx->kube, "/version", &v, &err);
        if (r < 0) {
                doctor_add(ctx, DOCTOR_FAIL, "kube.reachable",
                           "check the server address and credentials in the kubeconfig", "API server %s: %s",
                           kube_client_server(ctx->kube), err.message);
                ctx->kube = NULL;
                doctor_add(ctx, DOCTOR_SKIP, "kube.namespace", NULL, "not checked: the API server is not reachable");
                doctor_add(ctx, DOCTOR_SKIP, "kube.rbac", NULL, "not checked: the API server is not reachable");
                return;
        }
        const cJSON *gv = cJSON_GetObjectItem(v, "gitVersion");
        doctor_add(ctx, DOCTOR_OK, "kube.reachable", NULL, "API server %s answers (Kubernetes %s)",
                   kube_client_server(ctx->kube), cJSON_IsString(gv) ? gv->valuestring : "?");
        cJSON_Delete(v);
        v = NULL; /* kube_get leaves it alone on failure */

        KubeRef ns = { "v1", "Namespace", NULL, doctor_cget(ctx, "NAMESPACE") };
        r = kube_get(ctx->kube, &ns, &v, &err);
        if (r == -ENOENT) {
                _cleanup_free_ char *fix = NULL;
                if (asprintf(&fix, "kubectl create namespace %s", doctor_cget(ctx, "NAMESPACE")) < 0)
                        fix = NULL;
                doctor_add(ctx, DOCTOR_FAIL, "kube.namespace", fix, "namespace '%s' does not exist",
                           doctor_cget(ctx, "NAMESPACE"));
        } else if (r < 0)
                doctor_add(ctx, DOCTOR_FAIL, "kube.namespace", NULL, "cannot read namespace '%s': %s",
                           doctor_cget(ctx, "NAMESPACE"), err.message);
        else
                doctor_add(ctx, DOCTOR_OK, "kube.namespace", NULL, "namespace '%s' exists",
                           doctor_cget(ctx, "NAMESPACE"));
        cJSON_Delete(v);
        check_rbac(ctx);
}

/* ---- 7. the agent itself --------------------------------------------------- */

static void check_daemon(DoctorCtx *ctx) {
        char line[512];
        StrBuf out = { 0 };
        FILE *p;

        if (access("/run/systemd/system", F_OK) < 0)
                return; /* not booted with systemd */
        p = popen("systemctl show -p ActiveState -p StatusText nap-agent.service 2>/dev/null", "re");
        if (!p)
                return;
        while (fgets(line, sizeof line, p)) {
                line[strcspn(line, "\n")] = 0;
                strbuf_printf(&out, "%s%s", out.len ? ", " : "", line);
        }
        pclose(p);
        _cleanup_free_ char *s = strbuf_steal(&out);
        if (s && strstr(s, "ActiveState=active"))
                doctor_add(ctx, DOCTOR_OK, "agent.daemon", NULL, "nap-agent.service: %s", s);
        else if (s && *s)
                doctor_add(ctx, DOCTOR_WARN, "agent.daemon", "systemctl enable --now nap-agent",
                           "nap-agent.service: %s", s);
}

/* The ledger, read and (against values.env) checked: NULL after a
 * failing agent.ledger, which names the file and says why. */
static Ledger *check_ledger(DoctorCtx *ctx) {
        _cleanup_free_ char *corrupt = NULL;
        Ledger *l;

        int r = manager_ledger(ctx->m, &l);
        if (r < 0) {
                /* The message names the file, and the user or the command that fixes it. */
                doctor_add(ctx, DOCTOR_FAIL, "agent.ledger", NULL, "%s",
                           manager_ledger_error(ctx->m) ? manager_ledger_error(ctx->m) : STRERROR(r));
                return NULL;
        }
        if (ctx->config && ctx->desired && plan_check_ledger(ctx->desired, ctx->config, l, &corrupt) < 0) {
                doctor_add(ctx, DOCTOR_FAIL, "agent.ledger", NULL, "%s", corrupt ? corrupt : "out of memory");
                return NULL;
        }
        doctor_add(ctx, DOCTOR_OK, "agent.ledger", NULL,
                   "ledger in '%s' is readable: generation %llu, %zu object(s), %zu oauth client(s)",
                   manager_state_dir(ctx->m), (unsigned long long) l->generation, l->n_objects, l->n_clients);
        return l;
}

static void check_agent(DoctorCtx *ctx) {
        const Ledger *l = check_ledger(ctx);
        unsigned missing = 0, unreadable = 0;
        StrBuf names = { 0 };
        char first_error[sizeof ((KubeError) { 0 }).message] = "";

        if (!l) {
                check_daemon(ctx);
                return;
        }
        if (l->last_result && streq(l->last_result, "error"))
                doctor_add(ctx, DOCTOR_FAIL, "agent.last_pass", "journalctl -u nap-agent", "last pass at %s failed: %s",
                           l->last_time ? l->last_time : "?", l->last_message ? l->last_message : "?");
        else if (l->last_result)
                doctor_add(ctx, DOCTOR_OK, "agent.last_pass", NULL, "last pass at %s: %s",
                           l->last_time ? l->last_time : "?", l->last_message ? l->last_message : "ok");
        else
                doctor_add(ctx, DOCTOR_WARN, "agent.last_pass", "nap-agent apply (or systemctl enable --now nap-agent)",
                           "no pass recorded in '%s': nothing has been applied from this state directory yet",
                           manager_state_dir(ctx->m));
        for (size_t i = 0; ctx->kube && i < l->n_objects; i++) {
                const LedgerObject *o = &l->objects[i];
                KubeRef ref = { o->api_version, o->kind, o->namespace, o->name };
                KubeError err = { 0 };
                cJSON *live = NULL;
                if (plan_entry_missing(o))
                        continue; /* a partial object's target that was not there: never applied */
                int r = kube_get(ctx->kube, &ref, &live, &err);
                if (r == -ENOENT) {
                        missing++;
                        strbuf_printf(&names, "%s%s/%s", names.len ? ", " : "", o->kind, o->name);
                } else if (r < 0) {
                        if (unreadable++ == 0)
                                snprintf(first_error, sizeof first_error, "%s", err.message);
                } else
                        cJSON_Delete(live);
        }
        _cleanup_free_ char *n = strbuf_steal(&names);
        if (missing)
                doctor_add(ctx, DOCTOR_FAIL, "agent.drift", "nap-agent apply --resync",
                           "%u object(s) the agent applied are missing live: %s", missing, n ? n : "?");
        else if (ctx->kube && unreadable)
                doctor_add(ctx, DOCTOR_FAIL, "agent.drift", NULL, "cannot read %u of %zu object(s) in the ledger: %s",
                           unreadable, l->n_objects, first_error);
        else if (ctx->kube)
                doctor_add(ctx, DOCTOR_OK, "agent.drift", NULL, "every object in the ledger exists live");
        else
                doctor_add(ctx, DOCTOR_SKIP, "agent.drift", NULL, "not checked: the API server is not reachable");
        check_daemon(ctx);
}

/* ---- the report ------------------------------------------------------------ */

int doctor_run(Manager *m, const DoctorOptions *opts, DoctorReport *ret) {
        DoctorOptions defaults = { 0 };
        DoctorCtx ctx = { .m = m, .opts = opts ? opts : &defaults, .report = ret };

        assert(m);
        assert(ret);

        *ret = (DoctorReport) { 0 };
        check_values(&ctx);
        if (ctx.config) {
                check_kube(&ctx);
                doctor_check_oauth(&ctx);
                doctor_check_services(&ctx);
                doctor_check_turn(&ctx);
                doctor_check_opensandbox(&ctx);
                doctor_check_registry(&ctx);
        }
        check_agent(&ctx);
        config_free(ctx.config);
        desired_set_free(ctx.desired);
        return ctx.error;
}

void doctor_report_clear(DoctorReport *r) {
        assert(r);

        for (size_t i = 0; i < r->n_checks; i++) {
                free(r->checks[i].id);
                free(r->checks[i].summary);
                free(r->checks[i].fix);
        }
        free(r->checks);
        *r = (DoctorReport) { 0 };
}

bool doctor_report_failed(const DoctorReport *r) {
        assert(r);

        for (size_t i = 0; i < r->n_checks; i++)
                if (r->checks[i].status == DOCTOR_FAIL)
                        return true;
        return false;
}

static const char *status_word(DoctorStatus s) {
        static const char *const w[] = { "ok", "warn", "fail", "skip" };
        return w[s];
}

void doctor_print(const DoctorReport *r, FILE *f) {
        size_t counts[4] = { 0 };

        assert(r);
        assert(f);

        for (size_t i = 0; i < r->n_checks; i++) {
                const DoctorCheck *c = &r->checks[i];
                counts[c->status]++;
                fprintf(f, "%-4s  %-38s %s\n", status_word(c->status), c->id, c->summary);
                if (c->fix && c->status != DOCTOR_OK)
                        fprintf(f, "      %-38s fix: %s\n", "", c->fix);
        }
        fprintf(f, "%zu ok, %zu warning(s), %zu failure(s)", counts[DOCTOR_OK], counts[DOCTOR_WARN],
                counts[DOCTOR_FAIL]);
        if (counts[DOCTOR_SKIP] > 0)
                fprintf(f, ", %zu skipped", counts[DOCTOR_SKIP]);
        fputc('\n', f);
}

char *doctor_report_json(const DoctorReport *r) {
        cJSON *j = cJSON_CreateObject(), *arr;
        char *s;

        assert(r);

        if (!j)
                return NULL;
        cJSON_AddBoolToObject(j, "ok", !doctor_report_failed(r));
        arr = cJSON_AddArrayToObject(j, "checks");
        for (size_t i = 0; i < r->n_checks; i++) {
                cJSON *c = cJSON_CreateObject();
                cJSON_AddStringToObject(c, "id", r->checks[i].id);
                cJSON_AddStringToObject(c, "status", status_word(r->checks[i].status));
                cJSON_AddStringToObject(c, "summary", r->checks[i].summary);
                if (r->checks[i].fix)
                        cJSON_AddStringToObject(c, "fix", r->checks[i].fix);
                else
                        cJSON_AddNullToObject(c, "fix");
                cJSON_AddItemToArray(arr, c);
        }
        s = cJSON_Print(j);
        cJSON_Delete(j);
        return s;
}
