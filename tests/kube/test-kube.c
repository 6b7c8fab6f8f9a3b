/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of the Kubernetes client against the real kube-apiserver
 * of tests/harness (run through with-harness.sh, which exports KUBECONFIG,
 * KUBE_API_URL, KUBE_TOKEN, KUBE_CA_FILE, NAP_AUDIT_LOG and KUBECTL), and,
 * for retries, against the fault proxy (tests/lib/naptest/faultproxy.py) in front of it.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "kube-harness.h"
#include "kube.h"
#include "loopprobe.h"
#include "tests.h"

#define NS "kube-it"

static const char *audit_log, *kubectl;

static int sh(const char *format, ...) _printf_(1, 2);
static int sh(const char *format, ...) {
        char cmd[4096];
        va_list ap;
        int r;

        va_start(ap, format);
        vsnprintf(cmd, sizeof cmd, format, ap);
        va_end(ap);
        r = system(cmd);
        return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "w");
        if (!f)
                abort();
        fputs(text, f);
        fclose(f);
}

/* Writes a kubeconfig; cluster_extra and user are YAML lines (indented 4). */
static const char *kubeconfig(const char *name, const char *server, const char *cluster_extra, const char *user) {
        char text[16384];
        const char *p = tmp_path(name);

        snprintf(text, sizeof text,
                 "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                 "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                 "clusters:\n- name: k\n  cluster:\n    server: %s\n%s\n"
                 "users:\n- name: u\n  user:\n%s\n",
                 server, cluster_extra, user);
        write_text(p, text);
        return p;
}

static char *ca_data_line(void) {
        static char line[8300];
        snprintf(line, sizeof line, "    certificate-authority-data: %s", ca_b64);
        return line;
}

static char *token_line(const char *t) {
        static char line[512];
        snprintf(line, sizeof line, "    token: %s", t);
        return line;
}

static KubeClient *client_for(const char *path, const KubeClientOptions *opts) {
        KubeClient *c = NULL;
        KubeError err;
        int r = kube_client_new(path, opts, NULL, &c, &err);
        if (r < 0)
                TEST_FAIL("kube_client_new: %s", err.message);
        return c;
}

static KubeClient *default_client(void) {
        return client_for(kubeconfig("default", api_url, ca_data_line(), token_line(token)), NULL);
}

static cJSON *service(const char *name, const char *label, int node_port) {
        char text[1024];
        snprintf(text, sizeof text,
                 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"" NS "\","
                 "\"labels\":{\"app\":\"%s\"}},\"spec\":{\"type\":\"%s\",\"selector\":{\"app\":\"x\"},"
                 "\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"%s%.0d}]}}",
                 name, label, node_port ? "NodePort" : "ClusterIP", node_port ? ",\"nodePort\":" : "", node_port);
        return cJSON_Parse(text);
}

static cJSON *configmap(const char *name, const char *value) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"" NS
                 "\"},\"data\":{\"k\":\"%s\"}}",
                 name, value);
        return cJSON_Parse(text);
}

static void apply_ok(KubeClient *c, cJSON *obj, const char *last_rv, unsigned flags, KubeApplyResult *ret) {
        KubeError err;
        int r = kube_apply(c, obj, last_rv, flags, ret, &err);
        if (r < 0)
                TEST_FAIL("kube_apply: %d %s", r, err.message);
}

TEST(namespace) {
        KubeClient *c = default_client();
        cJSON *ns = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" NS "\"}}");
        KubeApplyResult res;

        apply_ok(c, ns, NULL, 0, &res);
        ASSERT_TRUE(res.created);
        kube_apply_result_clear(&res);
        cJSON_Delete(ns);
        kube_client_free(c);
}

/* How many requests of verb on kind c has counted (kube_client_requests). */
static uint64_t counted(KubeClient *c, KubeVerb verb, const char *kind) {
        for (size_t i = 0; i < KUBE_N_KINDS; i++)
                if (streq(kube_kind_at(i), kind))
                        return kube_client_requests(c)->n[verb][i];
        TEST_FAIL("no kind %s", kind);
}

TEST(apply_unchanged_changed) {
        KubeClient *c = default_client();
        cJSON *svc = service("web", "one", 0);
        KubeApplyResult a, b, d;
        KubeStats st;

        apply_ok(c, svc, NULL, 0, &a);
        ASSERT_TRUE(a.created && a.changed && !a.adopted);
        apply_ok(c, svc, a.resource_version, 0, &b);
        ASSERT_TRUE(!b.created && !b.changed);
        ASSERT_STREQ(b.resource_version, a.resource_version);
        cJSON_Delete(svc);
        svc = service("web", "two", 0);
        apply_ok(c, svc, b.resource_version, 0, &d);
        ASSERT_TRUE(!d.created && d.changed);
        ASSERT_TRUE(strcmp(d.resource_version, b.resource_version) != 0);
        ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(d.live, "metadata"), "labels"),
                                         "app")->valuestring,
                     "two");
        /* one request per apply, all on one connection */
        kube_client_stats(c, &st);
        ASSERT_EQ(st.requests, 3);
        ASSERT_EQ(st.connections, 1);
        /* counted by verb and kind, for the daemon's metrics */
        ASSERT_EQ(counted(c, KUBE_VERB_APPLY, "Service"), 3);
        ASSERT_EQ(counted(c, KUBE_VERB_GET, "Service"), 0);
        kube_apply_result_clear(&a);
        kube_apply_result_clear(&b);
        kube_apply_result_clear(&d);
        cJSON_Delete(svc);
        kube_client_free(c);
}

TEST(get_delete) {
        KubeClient *c = default_client();
        KubeRef ref = { "v1", "Service", NS, "web" };
        cJSON *o = NULL;
        bool existed = false;
        KubeError err;

        ASSERT_OK(kube_get(c, &ref, &o, &err));
        ASSERT_STREQ(cJSON_GetObjectItem(o, "kind")->valuestring, "Service");
        ASSERT_EQ(counted(c, KUBE_VERB_GET, "Service"), 1);
        cJSON_Delete(o);
        o = NULL;
        ASSERT_OK(kube_delete(c, &ref, &existed, &err));
        ASSERT_TRUE(existed);
        ASSERT_EQ(kube_get(c, &ref, &o, &err), -ENOENT);
        ASSERT_EQ(err.http_status, 404);
        ASSERT_OK(kube_delete(c, &ref, &existed, &err));
        ASSERT_TRUE(!existed);
        ASSERT_EQ(counted(c, KUBE_VERB_DELETE, "Service"), 2);
        ASSERT_EQ(counted(c, KUBE_VERB_GET, "Service"), 2);
        kube_client_free(c);
}

TEST(dry_run) {
        KubeClient *c = default_client();
        KubeRef ref = { "v1", "ConfigMap", NS, "dry" };
        cJSON *cm = configmap("dry", "a"), *o = NULL;
        KubeApplyResult res, res2;
        KubeError err;

        apply_ok(c, cm, NULL, KUBE_APPLY_DRY_RUN, &res);
        ASSERT_TRUE(res.created && res.changed);
        ASSERT_EQ(kube_get(c, &ref, &o, &err), -ENOENT);
        kube_apply_result_clear(&res);

        apply_ok(c, cm, NULL, 0, &res);
        apply_ok(c, cm, NULL, KUBE_APPLY_DRY_RUN, &res2);
        ASSERT_TRUE(!res2.created && !res2.changed);
        kube_apply_result_clear(&res2);
        cJSON_Delete(cm);
        cm = configmap("dry", "b");
        apply_ok(c, cm, NULL, KUBE_APPLY_DRY_RUN, &res2);
        ASSERT_TRUE(!res2.created && res2.changed);
        ASSERT_OK(kube_get(c, &ref, &o, &err));
        ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "data"), "k")->valuestring, "a");
        ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "resourceVersion")->valuestring,
                     res.resource_version);
        kube_apply_result_clear(&res);
        kube_apply_result_clear(&res2);
        cJSON_Delete(o);
        cJSON_Delete(cm);
        kube_client_free(c);
}

TEST(nodeport_collision) {
        KubeClient *c = default_client();
        cJSON *svc = service("second", "x", 30086);
        KubeApplyResult res;
        KubeError err;

        ASSERT_EQ(sh("printf '%%s' '{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"first\","
                     "\"namespace\":\"" NS "\"},\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":80,"
                     "\"protocol\":\"TCP\",\"nodePort\":30086}]}}' | \"$KUBECTL\" create -f - >/dev/null"),
                  0);
        ASSERT_EQ(kube_apply(c, svc, NULL, 0, &res, &err), -EINVAL);
        ASSERT_EQ(err.http_status, 422);
        ASSERT_STREQ(err.reason, "Invalid");
        printf("  422: %s\n", err.message);
        ASSERT_TRUE(strstr(err.message, "spec.ports[0].nodePort: Invalid value: 30086: provided port is already "
                                        "allocated") != NULL);
        cJSON_Delete(svc);
        kube_client_free(c);
}

TEST(wrong_token) {
        KubeClient *c = client_for(kubeconfig("badtoken", api_url, ca_data_line(), token_line("wrong-token")), NULL);
        cJSON *cm = configmap("never", "a");
        KubeApplyResult res;
        KubeError err;

        ASSERT_EQ(kube_apply(c, cm, NULL, 0, &res, &err), -EACCES);
        ASSERT_EQ(err.http_status, 401);
        printf("  401: %s\n", err.message);
        ASSERT_TRUE(strstr(err.message, "wrong-token") == NULL);
        cJSON_Delete(cm);
        kube_client_free(c);
}

TEST(missing_namespace) {
        KubeClient *c = default_client();
        cJSON *cm = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\","
                                "\"namespace\":\"does-not-exist\"}}");
        KubeApplyResult res;
        KubeError err;

        ASSERT_EQ(kube_apply(c, cm, NULL, 0, &res, &err), -ENOENT);
        printf("  404: %s\n", err.message);
        ASSERT_TRUE(strstr(err.message, "namespaces \"does-not-exist\" not found") != NULL);
        cJSON_Delete(cm);
        kube_client_free(c);
}

TEST(tls) {
        KubeClient *c;
        KubeRef ref = { "v1", "Namespace", NULL, NS };
        cJSON *o = NULL;
        KubeError err;

        /* Another CA than the server's. */
        ASSERT_EQ(sh("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other-ca -keyout '%s' -out '%s' "
                     "2>/dev/null",
                     tmp_path("other-ca.key"), tmp_path("other-ca.crt")),
                  0);
        c = client_for(kubeconfig("otherca", api_url, "    certificate-authority: other-ca.crt", token_line(token)),
                       NULL);
        ASSERT_EQ(kube_get(c, &ref, &o, &err), -EPROTO);
        printf("  TLS: %s\n", err.message);
        ASSERT_TRUE(strstr(err.message, "TLS with '") != NULL);
        kube_client_free(c);

        /* No CA: the system's store does not know the harness CA either. */
        c = client_for(kubeconfig("noca", api_url, "", token_line(token)), NULL);
        ASSERT_EQ(kube_get(c, &ref, &o, &err), -EPROTO);
        kube_client_free(c);

        /* Unless the kubeconfig says so. */
        c = client_for(kubeconfig("insecure", api_url, "    insecure-skip-tls-verify: true", token_line(token)), NULL);
        ASSERT_OK(kube_get(c, &ref, &o, &err));
        cJSON_Delete(o);
        kube_client_free(c);
}

TEST(kubeconfig_variants) {
        KubeRef ref = { "v1", "Namespace", NULL, NS };
        char user[8192];
        KubeClient *c;
        cJSON *o = NULL;
        KubeError err;
        char ca_key[512];
        int r;

        /* token file and CA file, relative to the kubeconfig */
        mkdir(tmp_path("creds"), 0700);
        ASSERT_EQ(sh("cp '%s' '%s' && printf '%%s\\n' \"$KUBE_TOKEN\" >'%s'", ca_file, tmp_path("creds/ca.crt"),
                     tmp_path("creds/token")),
                  0);
        c = client_for(kubeconfig("tokenfile", api_url, "    certificate-authority: creds/ca.crt",
                                  "    tokenFile: creds/token"),
                       NULL);
        ASSERT_OK(kube_get(c, &ref, &o, &err));
        cJSON_Delete(o);
        kube_client_free(c);

        /* client certificate data, signed by the harness CA */
        snprintf(ca_key, sizeof ca_key, "%.*s/ca.key", (int) (strrchr(ca_file, '/') - ca_file), ca_file);
        /* The harness always leaves its CA key beside ca.crt: without it the
         * client-certificate case cannot run, which is a failure, not a skip. */
        if (access(ca_key, R_OK) < 0)
                TEST_FAIL("client certificate: no readable CA key '%s': %s", ca_key, strerror(errno));
        ASSERT_EQ(sh("cd '%s' && openssl req -newkey rsa:2048 -nodes -subj '/O=system:masters/CN=nap-cert' "
                     "-keyout client.key -out client.csr 2>/dev/null && "
                     "openssl x509 -req -in client.csr -CA '%s' -CAkey '%s' -CAcreateserial -days 1 "
                     "-out client.crt 2>/dev/null && base64 -w0 client.crt >client.crt.b64 && "
                     "base64 -w0 client.key >client.key.b64",
                     tmpdir, ca_file, ca_key),
                  0);
        {
                char cert[4096] = "", key[4096] = "";
                FILE *f = fopen(tmp_path("client.crt.b64"), "r");
                ASSERT_TRUE(f && fgets(cert, sizeof cert, f));
                fclose(f);
                f = fopen(tmp_path("client.key.b64"), "r");
                ASSERT_TRUE(f && fgets(key, sizeof key, f));
                fclose(f);
                snprintf(user, sizeof user, "    client-certificate-data: %s\n    client-key-data: %s", cert, key);
        }
        c = client_for(kubeconfig("cert", api_url, ca_data_line(), user), NULL);
        r = kube_get(c, &ref, &o, &err);
        kube_client_free(c);
        /* The harness's apiserver trusts its CA for client certificates
         * (--client-ca-file), and O=system:masters is cluster-admin. */
        if (r < 0)
                TEST_FAIL("client certificate: %s", err.message);
        cJSON_Delete(o);
        /* and both, certificate and token */
        snprintf(user + strlen(user), sizeof user - strlen(user), "\n%s", token_line(token));
        c = client_for(kubeconfig("cert-token", api_url, ca_data_line(), user), NULL);
        ASSERT_OK(kube_get(c, &ref, &o, &err));
        cJSON_Delete(o);
        kube_client_free(c);
}

/* The managers named in obj's managedFields, ","-joined. */
static void managers(const cJSON *obj, char *buf, size_t size) {
        const cJSON *e;
        buf[0] = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "managedFields")) {
                size_t n = strlen(buf);
                snprintf(buf + n, size - n, "%s%s/%s", n ? "," : "", cJSON_GetObjectItem(e, "manager")->valuestring,
                         cJSON_GetObjectItem(e, "operation")->valuestring);
        }
}

/* install.sh's objects (kubectl apply --server-side, manager kubectl) are
 * adopted: the fields kubectl applied become nap-agent's, so what the agent
 * does not set (label extra, the annotation) goes. What an operator set
 * with `kubectl label` (an Update manager) stays, and so does everything of
 * an object kubectl only created or edited (no kubectl Apply entry). */
static void adopt_case(const char *name, const char *kubectl_args, bool adopt) {
        KubeClient *c = default_client();
        KubeRef ref = { "v1", "Service", NS, name };
        KubeApplyResult res, res2;
        cJSON *svc = service(name, "x", 0), *o = NULL;
        const cJSON *labels, *annotations;
        char m[512];
        KubeError err;

        ASSERT_EQ(sh("printf '%%s' '{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
                     "\"namespace\":\"" NS "\",\"labels\":{\"app\":\"x\",\"extra\":\"old\"},\"annotations\":"
                     "{\"install.sh/note\":\"old\"}},\"spec\":{\"selector\":{\"app\":\"x\"},\"ports\":[{\"name\":"
                     "\"http\",\"port\":80,\"protocol\":\"TCP\"}]}}' | \"$KUBECTL\" %s -f - >/dev/null && "
                     "\"$KUBECTL\" -n " NS " label service %s operator=set >/dev/null",
                     name, kubectl_args, name),
                  0);
        apply_ok(c, svc, NULL, KUBE_APPLY_ADOPT, &res);
        ASSERT_TRUE(res.adopted == adopt && res.changed && !res.created);
        ASSERT_OK(kube_get(c, &ref, &o, &err));
        labels = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "labels");
        annotations = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "annotations");
        ASSERT_TRUE(cJSON_HasObjectItem(labels, "extra") == !adopt);
        ASSERT_TRUE(cJSON_HasObjectItem(annotations, "install.sh/note") == !adopt);
        ASSERT_STREQ(cJSON_GetObjectItem(labels, "operator")->valuestring, "set");
        managers(o, m, sizeof m);
        printf("  %s: managers %s\n", name, m);
        ASSERT_TRUE(strstr(m, "nap-agent/Apply") && strstr(m, "kubectl-label/Update"));
        ASSERT_TRUE(!strstr(m, "kubectl/Apply"));
        cJSON_Delete(o);

        /* Already ours: nothing to take over. */
        apply_ok(c, svc, res.resource_version, KUBE_APPLY_ADOPT, &res2);
        ASSERT_TRUE(!res2.adopted && !res2.changed);
        kube_apply_result_clear(&res);
        kube_apply_result_clear(&res2);
        cJSON_Delete(svc);
        kube_client_free(c);
}

TEST(adopt_server_side) {
        adopt_case("adopt-ssa", "apply --server-side", true);
}

TEST(adopt_keeps_update_managers) {
        adopt_case("adopt-created", "create", false);
}

TEST(adopt_missing) {
        KubeClient *c = default_client();
        cJSON *cm = configmap("adopt-new", "a");
        KubeApplyResult res;

        apply_ok(c, cm, NULL, KUBE_APPLY_ADOPT, &res);
        ASSERT_TRUE(res.created && !res.adopted);
        kube_apply_result_clear(&res);
        cJSON_Delete(cm);
        kube_client_free(c);
}

/* Counts audit events after offset by nap-agent's user agent: patches of
 * names starting with prefix, and any other verb. */
static void audit_count(long offset, const char *prefix, unsigned *ret_patches, unsigned *ret_other) {
        FILE *f = fopen(audit_log, "r");
        char *line = NULL;
        size_t n = 0;

        *ret_patches = *ret_other = 0;
        if (!f || fseek(f, offset, SEEK_SET) < 0)
                TEST_FAIL("cannot read audit log '%s'", audit_log);
        while (getline(&line, &n, f) > 0) {
                cJSON *e = cJSON_Parse(line);
                const cJSON *ua = cJSON_GetObjectItem(e, "userAgent"), *verb = cJSON_GetObjectItem(e, "verb");
                const cJSON *name = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "objectRef"), "name");
                if (cJSON_IsString(ua) && strncmp(ua->valuestring, "nap-agent/", 10) == 0) {
                        if (cJSON_IsString(name) && strncmp(name->valuestring, prefix, strlen(prefix)) == 0 &&
                            strcmp(verb->valuestring, "patch") == 0)
                                (*ret_patches)++;
                        else
                                (*ret_other)++;
                }
                cJSON_Delete(e);
        }
        free(line);
        fclose(f);
}

TEST(audit_one_patch_per_object) {
        KubeClient *c = default_client();
        KubeApplyResult res[3];
        char *rv[3];
        unsigned patches, other;
        struct stat st;
        long offset;

        ASSERT_TRUE(stat(audit_log, &st) == 0);
        offset = (long) st.st_size;
        for (int pass = 0; pass < 2; pass++)
                for (int i = 0; i < 3; i++) {
                        char name[32];
                        snprintf(name, sizeof name, "audit-%d", i);
                        cJSON *cm = configmap(name, "v");
                        apply_ok(c, cm, pass ? rv[i] : NULL, 0, &res[i]);
                        ASSERT_TRUE(pass ? !res[i].changed : res[i].created);
                        if (pass) {
                                free(rv[i]);
                                kube_apply_result_clear(&res[i]);
                        } else {
                                rv[i] = strdup(res[i].resource_version);
                                kube_apply_result_clear(&res[i]);
                        }
                        cJSON_Delete(cm);
                }
        audit_count(offset, "audit-", &patches, &other);
        printf("  audit: %u patches, %u other requests\n", patches, other);
        ASSERT_EQ(patches, 6);
        ASSERT_EQ(other, 0);
        kube_client_free(c);
}

/* ---- faults, through tests/lib/naptest/faultproxy.py -------------------- */

static pid_t proxy_pid;
static char proxy_url[64];

static void proxy_start(void) {
        const char *port_file = tmp_path("proxy.port");
        char buf[16] = "";

        proxy_pid = fork();
        if (proxy_pid == 0) {
                execlp("python3", "python3", FAULT_PROXY, "http", "--upstream", api_url, "--ca", ca_file, "--port-file",
                       port_file, (char *) NULL);
                _exit(127);
        }
        for (int i = 0; i < 100; i++) { /* up to 10 s */
                FILE *f = fopen(port_file, "r");
                if (f) {
                        bool ok = fgets(buf, sizeof buf, f) != NULL;
                        fclose(f);
                        if (ok)
                                break;
                }
                usleep(100000);
        }
        if (!buf[0])
                TEST_FAIL("fault-proxy did not start");
        snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", atoi(buf));
}

static void proxy_stop(void) {
        if (proxy_pid > 0) {
                kill(proxy_pid, SIGTERM);
                waitpid(proxy_pid, NULL, 0);
                proxy_pid = 0;
        }
}

/* POSTs body (GET without) to the proxy's control path; returns the
 * counter named field of its answer (the proxy's stats). */
static long proxy_field(const char *path, const char *body, const char *field) {
        CURL *h = curl_easy_init();
        char url[128];
        FILE *out = tmpfile();
        char answer[512] = "";
        long v = -1;

        snprintf(url, sizeof url, "%s%s", proxy_url, path);
        curl_easy_setopt(h, CURLOPT_URL, url);
        if (body)
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
        if (curl_easy_perform(h) != CURLE_OK)
                TEST_FAIL("fault-proxy control %s failed", path);
        curl_easy_cleanup(h);
        rewind(out);
        if (fgets(answer, sizeof answer, out)) {
                cJSON *j = cJSON_Parse(answer);
                const cJSON *r = cJSON_GetObjectItem(j, field);
                if (cJSON_IsNumber(r))
                        v = (long) r->valuedouble;
                cJSON_Delete(j);
        }
        fclose(out);
        if (v < 0)
                TEST_FAIL("fault-proxy control %s: no '%s' in '%s'", path, field, answer);
        return v;
}

/* The same, for the number of requests the proxy saw. */
static long proxy_control(const char *path, const char *body) {
        return proxy_field(path, body, "requests");
}

static long proxy_stat(const char *field) {
        return proxy_field("/__stats__", NULL, field);
}

static KubeClient *proxy_client(const KubeClientOptions *opts) {
        if (proxy_pid <= 0)
                proxy_start();
        proxy_control("/__reset__", "");
        return client_for(kubeconfig("proxy", proxy_url, "", token_line(token)), opts);
}

TEST(fault_retry_success) {
        KubeClientOptions opts = { .backoff_initial_usec = 50 * USEC_PER_MSEC, .backoff_max_usec = 400 * USEC_PER_MSEC };
        KubeClient *c;
        cJSON *cm = configmap("faulty", "a");
        KubeApplyResult res;
        char *rv;
        double t0;

        c = proxy_client(&opts);
        proxy_control("/__fault__", "[{\"type\":\"status\",\"code\":503},{\"type\":\"drop\"},"
                                    "{\"type\":\"status\",\"code\":502}]");
        apply_ok(c, cm, NULL, 0, &res);
        ASSERT_TRUE(res.created);
        ASSERT_EQ(proxy_control("/__stats__", NULL), 4);
        /* every attempt the client made is counted (as KubeStats counts them
         * when they end); libcurl resends a request that met a dropped
         * kept-alive connection by itself, which the proxy sees and we do not */
        {
                KubeStats st;
                kube_client_stats(c, &st);
                ASSERT_EQ(counted(c, KUBE_VERB_APPLY, "ConfigMap"), st.requests);
                ASSERT_TRUE(st.requests >= 3);
        }

        /* 429 with Retry-After: 1 is honoured, not the backoff (at most
         * 400 ms): the retry does not come before 1 s. A lower bound only,
         * which no machine's speed can break (a timer never fires early). */
        rv = strdup(res.resource_version);
        kube_apply_result_clear(&res);
        proxy_control("/__fault__", "[{\"type\":\"status\",\"code\":429,\"retry_after\":1}]");
        t0 = now();
        apply_ok(c, cm, rv, 0, &res);
        printf("  429 with Retry-After: 1: answered after %.2f s\n", now() - t0);
        ASSERT_TRUE(now() - t0 >= 1.0);
        ASSERT_TRUE(!res.changed);
        ASSERT_EQ(proxy_control("/__stats__", NULL), 6);
        free(rv);
        kube_apply_result_clear(&res);
        kube_client_free(c);
        cJSON_Delete(cm);
}

/* "(gave up after N attempts in S s)" in message: N, or 0 without it. */
static long gave_up_after(const char *message) {
        const char *p = strstr(message, "(gave up after ");

        return p ? strtol(p + strlen("(gave up after "), NULL, 10) : 0;
}

/* Each attempt a request of its own at the proxy, and the error says how
 * many there were: what ended them is what the proxy saw, not a clock. */
TEST(fault_give_up) {
        KubeClientOptions opts = { .request_timeout_usec = 700 * USEC_PER_MSEC, .deadline_usec = 3 * USEC_PER_SEC,
                                   .backoff_initial_usec = 50 * USEC_PER_MSEC, .backoff_max_usec = 300 * USEC_PER_MSEC };
        KubeClient *c = proxy_client(&opts);
        cJSON *cm = configmap("faulty", "b");
        KubeApplyResult res;
        KubeError err;
        long n;

        /* 503 until the deadline: more faults than the client can make
         * attempts in 3 s (at least 25, 50, 100, then 150 ms apart), so
         * none gets through, and some are left when it gives up. */
        {
                char faults[2048] = "[";
                for (int i = 0; i < 48; i++)
                        strcat(faults, i ? ",{\"type\":\"status\",\"code\":503}" : "{\"type\":\"status\",\"code\":503}");
                strcat(faults, "]");
                proxy_control("/__fault__", faults);
        }
        ASSERT_EQ(kube_apply(c, cm, NULL, 0, &res, &err), -EIO);
        printf("  503: %s\n", err.message);
        ASSERT_TRUE(strstr(err.message, "fault-proxy: injected 503 (HTTP 503) (gave up after") != NULL);
        n = proxy_stat("requests");
        ASSERT_EQ(gave_up_after(err.message), n);
        ASSERT_TRUE(n >= 2);
        ASSERT_EQ(proxy_stat("queued"), 48 - n);
        ASSERT_TRUE(kube_client_idle(c));
        proxy_control("/__reset__", "");

        /* answers that never come: each attempt ends at the per-request
         * timeout and is retried, until the deadline */
        proxy_control("/__fault__", "[{\"type\":\"hold\",\"limit\":30},{\"type\":\"hold\",\"limit\":30},"
                                    "{\"type\":\"hold\",\"limit\":30},{\"type\":\"hold\",\"limit\":30},"
                                    "{\"type\":\"hold\",\"limit\":30}]");
        ASSERT_EQ(kube_apply(c, cm, NULL, 0, &res, &err), -ETIMEDOUT);
        printf("  timeout: %s\n", err.message);
        n = proxy_stat("held");
        ASSERT_EQ(gave_up_after(err.message), n);
        ASSERT_TRUE(n >= 2);
        ASSERT_EQ(proxy_stat("requests"), n);
        ASSERT_TRUE(kube_client_idle(c));
        proxy_control("/__release__", "");
        proxy_control("/__reset__", "");

        /* Retry-After beyond the deadline: given up at once, after the one
         * attempt, with no retry left scheduled */
        proxy_control("/__fault__", "[{\"type\":\"status\",\"code\":429,\"retry_after\":30}]");
        ASSERT_EQ(kube_apply(c, cm, NULL, 0, &res, &err), -EBUSY);
        printf("  429: %s\n", err.message);
        ASSERT_TRUE(strstr(err.message, "fault-proxy: injected 429") != NULL);
        ASSERT_EQ(gave_up_after(err.message), 0);
        ASSERT_EQ(proxy_stat("requests"), 1);
        ASSERT_TRUE(kube_client_idle(c));
        kube_client_free(c);
        cJSON_Delete(cm);
}

typedef struct Async {
        unsigned done;
        int r[3];
} Async;

static void async_applied(int r, KubeApplyResult *res, const KubeError *err, void *userdata) {
        Async *a = userdata;

        if (a->done < ELEMENTSOF(a->r))
                a->r[a->done] = r;
        a->done++;
}

/* Runs c's loop, watched by p, until n answers came to a (limit: a
 * deadline for the wait, in seconds). */
static void run_until_done(KubeClient *c, LoopProbe *p, Async *a, unsigned n, double limit) {
        double t0 = now();

        while (a->done < n) {
                if (now() - t0 > limit)
                        TEST_FAIL("%u of %u answers within %.0f s", a->done, n, limit);
                ASSERT_OK(loop_probe_run(p, kube_client_event(c), 100 * 1000));
        }
}

/* Runs c's loop, watched by p, until the proxy holds n requests at once. */
static void run_until_held(KubeClient *c, LoopProbe *p, long n, double limit) {
        double t0 = now();

        while (proxy_stat("holding") < n) {
                if (now() - t0 > limit)
                        TEST_FAIL("the proxy never held %ld requests at once (at most %ld) within %.0f s", n,
                                  proxy_stat("held_at_once"), limit);
                ASSERT_OK(loop_probe_run(p, kube_client_event(c), 50 * 1000));
        }
}

/* Requests of one pass run at once, on one loop that is never blocked:
 * three applies are held by the proxy all at the same time (an apply sent
 * only once another was answered could not be: none is answered until the
 * test releases them), then answered; one held is cancelled without a
 * callback, at once, nothing of it left running. No dispatch of the loop
 * waits in the kernel throughout. */
TEST(fault_async) {
        KubeClient *c = proxy_client(NULL);
        cJSON *cm[3] = { configmap("async-a", "1"), configmap("async-b", "1"), configmap("async-c", "1") };
        LoopProbe probe = { 0 };
        Async a = { 0 }, victim = { 0 };
        KubeOp *op = NULL;

        proxy_control("/__fault__", "[{\"type\":\"hold\",\"then\":\"forward\",\"limit\":30},"
                                    "{\"type\":\"hold\",\"then\":\"forward\",\"limit\":30},"
                                    "{\"type\":\"hold\",\"then\":\"forward\",\"limit\":30}]");
        for (int i = 0; i < 3; i++)
                ASSERT_OK(kube_apply_start(c, cm[i], NULL, 0, async_applied, &a, NULL));
        run_until_held(c, &probe, 3, 30);
        ASSERT_EQ(a.done, 0u);
        proxy_control("/__release__", "");
        run_until_done(c, &probe, &a, 3, 30);
        ASSERT_EQ(a.done, 3u);
        for (int i = 0; i < 3; i++)
                ASSERT_OK(a.r[i]);
        ASSERT_EQ(proxy_stat("held_at_once"), 3);
        ASSERT_EQ(proxy_stat("requests"), 3); /* one each: none timed out and sent again */
        ASSERT_TRUE(kube_client_idle(c));
        proxy_control("/__reset__", "");

        /* Cancelled while the proxy holds it (never forwarded). */
        proxy_control("/__fault__", "[{\"type\":\"hold\",\"limit\":30}]");
        ASSERT_OK(kube_apply_start(c, cm[0], NULL, 0, async_applied, &victim, &op));
        run_until_held(c, &probe, 1, 30);
        ASSERT_RETURNS_AT_ONCE(kube_op_cancel(op));
        ASSERT_TRUE(kube_client_idle(c));
        proxy_control("/__release__", "");
        /* Fence: a later apply on the same client is answered; the
         * cancelled one never was. */
        a = (Async) { 0 };
        ASSERT_OK(kube_apply_start(c, cm[1], NULL, 0, async_applied, &a, NULL));
        run_until_done(c, &probe, &a, 1, 30);
        ASSERT_OK(a.r[0]);
        ASSERT_EQ(victim.done, 0u);
        ASSERT_TRUE(kube_client_idle(c));
        loop_probe_check(&probe, 4, "fault_async"); /* at least 3 answers and 1 more */
        kube_client_free(c);
        for (int i = 0; i < 3; i++)
                cJSON_Delete(cm[i]);
        proxy_stop();
}

static const TestCase cases[] = {
        T(namespace), T(apply_unchanged_changed), T(get_delete), T(dry_run), T(nodeport_collision),
        T(wrong_token), T(missing_namespace), T(tls), T(kubeconfig_variants), T(adopt_server_side),
        T(adopt_keeps_update_managers), T(adopt_missing), T(audit_one_patch_per_object), T(fault_retry_success),
        T(fault_give_up), T(fault_async),
};

int main(void) {
        static const char *const more[] = { "NAP_AUDIT_LOG", "KUBECTL", "KUBECONFIG", NULL };
        int r;

        if (kube_harness_init("test-kube", more) < 0)
                return 1;
        audit_log = getenv("NAP_AUDIT_LOG");
        kubectl = getenv("KUBECTL");
        r = test_run(cases, ELEMENTSOF(cases));
        proxy_stop();
        if (kube_harness_done() < 0)
                r = 1;
        return r;
}
