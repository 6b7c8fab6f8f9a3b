/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the Kubernetes client without a server: kubeconfig parsing
 * (from files written to a temp dir), locate order, REST paths, Status
 * messages, and the transport's handling of a refused connection.
 */
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube-internal.h"
#include "kube.h"
#include "util/json.h"
#include "util/redact.h"
#include "kube-config.h"
#include "tests.h"

#define PEM_CERT "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
#define PEM_KEY "-----BEGIN PRIVATE KEY-----\nMIIBfakekey\n-----END PRIVATE KEY-----\n"
/* base64 of PEM_CERT and PEM_KEY */
#define PEM_CERT_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJmYWtlCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
#define PEM_KEY_B64 "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUJmYWtla2V5Ci0tLS0tRU5EIFBSSVZBVEUgS0VZLS0tLS0K"

static char tmpdir[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void tmp_setup(void) {
        if (tmpdir[0])
                nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        snprintf(tmpdir, sizeof tmpdir, "/tmp/test-kube-unit.XXXXXX");
        if (!mkdtemp(tmpdir))
                abort();
}

/* Writes tmpdir/name (creating one level of subdirectory) and returns its path. */
static const char *write_file(const char *name, const char *content) {
        static char path[512];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", tmpdir, name);
        if (strchr(name, '/')) {
                char dir[512];
                snprintf(dir, sizeof dir, "%s", path);
                *strrchr(dir, '/') = 0;
                mkdir(dir, 0700);
        }
        f = fopen(path, "w");
        if (!f)
                abort();
        fputs(content, f);
        fclose(f);
        return path;
}

static int load(const char *text, KubeConfig **ret, KubeError *err) {
        const char *p = write_file("kubeconfig", text);
        kube_error_clear(err);
        return kube_config_load(p, ret, err);
}

#define HEAD                                                 \
        "apiVersion: v1\nkind: Config\ncurrent-context: c1\n" \
        "contexts:\n- name: c1\n  context: {cluster: k1, user: u1, namespace: ns1}\n"

TEST(token) {
        KubeConfig *k = NULL;
        KubeError err;

        ASSERT_OK(load(HEAD "clusters:\n- name: k1\n  cluster:\n    server: https://127.0.0.1:6443/\n"
                            "    certificate-authority-data: " PEM_CERT_B64 "\n"
                            "users:\n- name: u1\n  user:\n    token: abc.def\n",
                       &k, &err));
        ASSERT_STREQ(k->server, "https://127.0.0.1:6443");
        ASSERT_STREQ(k->context, "c1");
        ASSERT_STREQ(k->cluster, "k1");
        ASSERT_STREQ(k->user, "u1");
        ASSERT_STREQ(k->namespace, "ns1");
        ASSERT_STREQ(k->token, "abc.def");
        ASSERT_EQ(k->ca.size, strlen(PEM_CERT));
        ASSERT_TRUE(memcmp(k->ca.data, PEM_CERT, k->ca.size) == 0);
        ASSERT_EQ(k->client_cert.size, 0);
        ASSERT_TRUE(!k->insecure_skip_tls_verify);
        kube_config_free(k);
}

TEST(token_file_relative) {
        KubeConfig *k = NULL;
        KubeError err;

        tmp_setup();
        write_file("secrets/token", "tok-from-file\n\n");
        ASSERT_OK(load(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1', insecure-skip-tls-verify: true}\n"
                            "users:\n- name: u1\n  user: {tokenFile: secrets/token}\n",
                       &k, &err));
        ASSERT_STREQ(k->token, "tok-from-file");
        ASSERT_TRUE(k->insecure_skip_tls_verify);
        ASSERT_EQ(k->ca.size, 0);
        kube_config_free(k);
}

TEST(client_cert_data) {
        KubeConfig *k = NULL;
        KubeError err;

        ASSERT_OK(load(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1'}\n"
                            "users:\n- name: u1\n  user:\n    client-certificate-data: " PEM_CERT_B64 "\n"
                            "    client-key-data: " PEM_KEY_B64 "\n",
                       &k, &err));
        ASSERT_NULL(k->token);
        ASSERT_EQ(k->client_cert.size, strlen(PEM_CERT));
        ASSERT_EQ(k->client_key.size, strlen(PEM_KEY));
        ASSERT_TRUE(memcmp(k->client_key.data, PEM_KEY, k->client_key.size) == 0);
        kube_config_free(k);
}

TEST(files_relative_to_kubeconfig) {
        KubeConfig *k = NULL;
        KubeError err;
        char abs_ca[600];

        tmp_setup();
        write_file("pki/ca.crt", PEM_CERT);
        write_file("pki/client.crt", PEM_CERT);
        write_file("pki/client.key", PEM_KEY);
        snprintf(abs_ca, sizeof abs_ca, "%s/pki/ca.crt", tmpdir);
        ASSERT_OK(load(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1', certificate-authority: pki/ca.crt}\n"
                            "users:\n- name: u1\n  user: {client-certificate: pki/client.crt, client-key: ./pki/client.key}\n",
                       &k, &err));
        ASSERT_EQ(k->ca.size, strlen(PEM_CERT));
        ASSERT_EQ(k->client_cert.size, strlen(PEM_CERT));
        ASSERT_EQ(k->client_key.size, strlen(PEM_KEY));
        kube_config_free(k);
        k = NULL;

        /* An absolute path is taken as it is. */
        {
                char text[2048];
                snprintf(text, sizeof text,
                         HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1', certificate-authority: '%s'}\n"
                              "users:\n- name: u1\n  user: {token: t}\n",
                         abs_ca);
                ASSERT_OK(load(text, &k, &err));
                ASSERT_EQ(k->ca.size, strlen(PEM_CERT));
                kube_config_free(k);
        }
}

/* Loads text expecting failure r, with a message containing each of the
 * NULL-terminated fragments. */
static void expect_error(const char *text, int expected, const char *const *fragments) {
        KubeConfig *k = NULL;
        KubeError err;
        int r = load(text, &k, &err);

        if (r != expected)
                TEST_FAIL("expected %d, got %d (%s)", expected, r, err.message);
        ASSERT_NULL(k);
        for (const char *const *f = fragments; *f; f++)
                if (!strstr(err.message, *f))
                        TEST_FAIL("message '%s' lacks '%s'", err.message, *f);
        if (strstr(err.message, "s3cr3t"))
                TEST_FAIL("message '%s' shows the token", err.message);
}
#define EXPECT_ERROR(text, r, ...) expect_error(text, r, (const char *const[]) { __VA_ARGS__, NULL })

TEST(errors) {
        tmp_setup();
        EXPECT_ERROR("apiVersion: v1\ncontexts: []\n", -EINVAL, "kubeconfig '", "has no current-context");
        EXPECT_ERROR("", -EINVAL, "is empty");
        EXPECT_ERROR("- a\n- b\n", -EINVAL, "is not a YAML mapping");
        EXPECT_ERROR("current-context: foo\ncontexts: [\n", -EINVAL, "kubeconfig '", "/kubeconfig':");
        EXPECT_ERROR("current-context: foo\ncontexts:\n- name: c1\n  context: {cluster: k1}\n", -EINVAL,
                     "current-context 'foo' is not defined");
        EXPECT_ERROR("current-context: foo\ncontexts:\n- name: foo\n  context: {cluster: bar, user: u}\n"
                     "users:\n- name: u\n  user: {token: s3cr3t}\n",
                     -EINVAL, "context 'foo' names cluster 'bar', which is not defined");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1'}\n"
                          "users:\n- name: other\n  user: {token: s3cr3t}\n",
                     -EINVAL, "context 'c1' names user 'u1', which is not defined");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {insecure-skip-tls-verify: true}\n", -EINVAL,
                     "cluster 'k1' has no server");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: 'ftp://h'}\n", -EINVAL,
                     "is not an http(s) URL");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster:\n    server: https://h:1\n"
                          "    certificate-authority-data: 'not*base64'\n",
                     -EINVAL, ":11: cluster 'k1': certificate-authority-data is not valid base64");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster:\n    server: https://h:1\n"
                          "    certificate-authority-data: aGVsbG8=\n",
                     -EINVAL, "certificate-authority-data is not PEM data");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1', certificate-authority: nope.crt}\n",
                     -ENOENT, "cluster 'k1': certificate-authority '", "/nope.crt': No such file");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1', insecure-skip-tls-verify: maybe}\n",
                     -EINVAL, "'insecure-skip-tls-verify' is not a boolean");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1', insecure-skip-tls-verify: true, "
                          "certificate-authority-data: " PEM_CERT_B64 "}\n",
                     -EINVAL, "insecure-skip-tls-verify is not allowed");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1'}\n"
                          "users:\n- name: u1\n  user: {token: s3cr3t, client-key-data: " PEM_KEY_B64 "}\n",
                     -EINVAL, "user 'u1' has a client key but no client certificate");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1'}\n"
                          "users:\n- name: u1\n  user: {token: s3cr3t, client-certificate-data: 'Zm9v!'}\n",
                     -EINVAL, "user 'u1': client-certificate-data is not valid base64");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1'}\n"
                          "users:\n- name: u1\n  user: {tokenFile: missing-token}\n",
                     -ENOENT, "user 'u1': tokenFile '", "missing-token': No such file");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1'}\n"
                          "users:\n- name: u1\n  user:\n    exec: {command: aws}\n",
                     -EOPNOTSUPP, "user 'u1' uses 'exec'");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: [a]}\n", -EINVAL, "'server' is not a string");
}

/* Issue 14: tls-server-name and proxy-url, read as client-go reads them. */
TEST(server_name_and_proxy) {
        KubeConfig *k = NULL;
        KubeError err;

        tmp_setup();
        ASSERT_OK(load(HEAD "clusters:\n- name: k1\n  cluster:\n    server: https://[::1]:6443\n"
                            "    tls-server-name: kubernetes.default.svc\n"
                            "    proxy-url: socks5://user:pw@127.0.0.1:1080\n"
                            "users:\n- name: u1\n  user:\n    token: abc\n",
                       &k, &err));
        ASSERT_STREQ(k->tls_server_name, "kubernetes.default.svc");
        ASSERT_STREQ(k->proxy_url, "socks5h://user:pw@127.0.0.1:1080"); /* names resolved by the proxy */
        ASSERT_STREQ(k->request_base, "https://kubernetes.default.svc:6443");
        ASSERT_STREQ(k->connect_to, "kubernetes.default.svc:6443:[::1]:6443");
        kube_config_free(k);
        ASSERT_OK(load(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1', proxy-url: 'HTTP://p:3128'}\n"
                            "users:\n- name: u1\n  user: {token: abc}\n",
                       &k, &err));
        ASSERT_NULL(k->tls_server_name);
        ASSERT_NULL(k->connect_to);
        ASSERT_STREQ(k->request_base, "https://h:1");
        ASSERT_STREQ(k->proxy_url, "HTTP://p:3128");
        kube_config_free(k);
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1', proxy-url: 'ftp://u:s3cr3t@p:21'}\n",
                     -EINVAL, ":9: cluster 'k1': proxy-url is not an http://, https:// or socks5:// URL");
        /* (expect_error checks that "s3cr3t", the URL's password, is not in the message) */
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1', proxy-url: 'http://p :1'}\n",
                     -EINVAL, "proxy-url is not an");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://h:1', tls-server-name: 'a b'}\n",
                     -EINVAL, "tls-server-name 'a b' is not a host name");
        EXPECT_ERROR(HEAD "clusters:\n- name: k1\n  cluster: {server: 'http://h:1', tls-server-name: k}\n",
                     -EINVAL, "tls-server-name needs an https:// server");
}

TEST(missing_file) {
        KubeConfig *k = NULL;
        KubeError err;

        ASSERT_EQ(kube_config_load("/nonexistent/kubeconfig", &k, &err), -ENOENT);
        ASSERT_STREQ(err.message, "kubeconfig '/nonexistent/kubeconfig' does not exist");
}

TEST(locate) {
        char *p = NULL, *skipped = NULL, defaults_a[600], defaults_b[600], creds[600];
        const char *defaults[3] = { defaults_a, defaults_b, NULL };

        tmp_setup();
        snprintf(defaults_a, sizeof defaults_a, "%s/k3s.yaml", tmpdir);
        snprintf(defaults_b, sizeof defaults_b, "%s/admin.conf", tmpdir);
        snprintf(creds, sizeof creds, "%s/creds", tmpdir);
        unsetenv("KUBECONFIG");
        unsetenv("CREDENTIALS_DIRECTORY");

        ASSERT_EQ(kube_config_locate_in(NULL, NULL, NULL, defaults, &p, &skipped), -ENOENT);
        write_file("admin.conf", "x");
        ASSERT_OK(kube_config_locate_in(NULL, NULL, NULL, defaults, &p, &skipped));
        ASSERT_STREQ(p, defaults_b);
        ASSERT_NULL(skipped);
        free(p);
        write_file("k3s.yaml", "x");
        ASSERT_OK(kube_config_locate_in(NULL, "", NULL, defaults, &p, NULL));
        ASSERT_STREQ(p, defaults_a);
        free(p);

        /* values.env's KUBECONFIG, relative to its directory, before k3s and kubeadm... */
        write_file("etc/kubeconfig", "x");
        char values_dir[700], want[800];
        snprintf(values_dir, sizeof values_dir, "%s/etc", tmpdir);
        snprintf(want, sizeof want, "%s/etc/kubeconfig", tmpdir);
        ASSERT_OK(kube_config_locate_in(NULL, "kubeconfig", values_dir, defaults, &p, &skipped));
        ASSERT_STREQ(p, want);
        ASSERT_NULL(skipped);
        free(p);
        ASSERT_OK(kube_config_locate_in(NULL, want, "/elsewhere", defaults, &p, NULL));
        ASSERT_STREQ(p, want);
        free(p);
        /* ...but one that does not exist (the platform's `./kubeconfig.yaml`) is
         * passed over, named for the caller's warning */
        ASSERT_OK(kube_config_locate_in(NULL, "./kubeconfig.yaml", values_dir, defaults, &p, &skipped));
        ASSERT_STREQ(p, defaults_a);
        snprintf(want, sizeof want, "%s/etc/./kubeconfig.yaml", tmpdir);
        ASSERT_STREQ(skipped, want);
        free(p);
        free(skipped);
        unlink(defaults_a);
        unlink(defaults_b);
        ASSERT_EQ(kube_config_locate_in(NULL, "./kubeconfig.yaml", values_dir, defaults, &p, &skipped), -ENOENT);
        write_file("k3s.yaml", "x");

        /* $CREDENTIALS_DIRECTORY/kubeconfig, only when it exists, before values.env */
        setenv("CREDENTIALS_DIRECTORY", creds, 1);
        ASSERT_OK(kube_config_locate_in(NULL, "kubeconfig", values_dir, defaults, &p, NULL));
        ASSERT_TRUE(strstr(p, "/etc/kubeconfig") != NULL);
        free(p);
        write_file("creds/kubeconfig", "x");
        ASSERT_OK(kube_config_locate_in(NULL, "kubeconfig", values_dir, defaults, &p, &skipped));
        ASSERT_TRUE(strstr(p, "/creds/kubeconfig") != NULL);
        ASSERT_NULL(skipped);
        free(p);
        /* with the credential there, a missing values.env path is no news */
        ASSERT_OK(kube_config_locate_in(NULL, "./kubeconfig.yaml", values_dir, defaults, &p, &skipped));
        ASSERT_TRUE(strstr(p, "/creds/kubeconfig") != NULL);
        ASSERT_NULL(skipped);
        free(p);

        /* the unit's SetCredential=kubeconfig:none (the file was missing when
         * systemd started it), or an empty credential, is no kubeconfig */
        write_file("creds/kubeconfig", "none");
        ASSERT_OK(kube_config_locate_in(NULL, "kubeconfig", values_dir, defaults, &p, NULL));
        ASSERT_TRUE(strstr(p, "/etc/kubeconfig") != NULL);
        free(p);
        write_file("creds/kubeconfig", "");
        ASSERT_OK(kube_config_locate_in(NULL, "kubeconfig", values_dir, defaults, &p, NULL));
        ASSERT_TRUE(strstr(p, "/etc/kubeconfig") != NULL);
        free(p);
        /* k3s's file as a credential: after values.env's KUBECONFIG (when
         * readable), before the well-known files */
        write_file("creds/k3s-kubeconfig", "none");
        ASSERT_OK(kube_config_locate_in(NULL, "./kubeconfig.yaml", values_dir, defaults, &p, &skipped));
        ASSERT_STREQ(p, defaults_a);
        ASSERT_TRUE(skipped != NULL);
        free(p);
        free(skipped);
        write_file("creds/k3s-kubeconfig", "apiVersion: v1\n");
        ASSERT_OK(kube_config_locate_in(NULL, "./kubeconfig.yaml", values_dir, defaults, &p, &skipped));
        ASSERT_TRUE(strstr(p, "/creds/k3s-kubeconfig") != NULL);
        ASSERT_TRUE(skipped != NULL); /* values.env named another file, which is missing */
        free(p);
        free(skipped);
        ASSERT_OK(kube_config_locate_in(NULL, "kubeconfig", values_dir, defaults, &p, NULL));
        ASSERT_TRUE(strstr(p, "/etc/kubeconfig") != NULL);
        free(p);
        /* values.env naming k3s's file, which this user cannot read (the service:
         * it is 0600 root; here it does not exist): the credential stands in, no warning */
        ASSERT_OK(kube_config_locate_in(NULL, KUBE_K3S_KUBECONFIG "-not-here", NULL, defaults, &p, &skipped));
        ASSERT_TRUE(skipped != NULL);
        free(p);
        free(skipped);
        ASSERT_OK(kube_config_locate_in(NULL, KUBE_K3S_KUBECONFIG, NULL, defaults, &p, &skipped));
        ASSERT_TRUE(strstr(p, "/creds/k3s-kubeconfig") != NULL || /* a k3s machine, run by root: */
                    (access(KUBE_K3S_KUBECONFIG, R_OK) == 0 && streq(p, KUBE_K3S_KUBECONFIG)));
        ASSERT_NULL(skipped);
        free(p);
        write_file("creds/kubeconfig", "apiVersion: v1\n");

        /* $KUBECONFIG (its first entry), even when the file is missing, before the credential */
        setenv("KUBECONFIG", "/from/env:/second", 1);
        ASSERT_OK(kube_config_locate_in(NULL, "kubeconfig", values_dir, defaults, &p, NULL));
        ASSERT_STREQ(p, "/from/env");
        free(p);

        /* --kubeconfig wins */
        ASSERT_OK(kube_config_locate_in("/explicit", "kubeconfig", values_dir, defaults, &p, NULL));
        ASSERT_STREQ(p, "/explicit");
        free(p);
        unsetenv("KUBECONFIG");
        unsetenv("CREDENTIALS_DIRECTORY");
}

static void expect_path(const char *api_version, const char *kind, const char *ns, const char *name,
                        int expected, const char *path) {
        KubeRef ref = { api_version, kind, ns, name };
        char *p = NULL;
        int r = kube_path(&ref, &p);

        if (r != expected)
                TEST_FAIL("%s %s: expected %d, got %d", api_version, kind, expected, r);
        if (path)
                ASSERT_STREQ(p, path);
        free(p);
}

TEST(paths) {
        expect_path("v1", "Secret", "nap", "s", 0, "/api/v1/namespaces/nap/secrets/s");
        expect_path("v1", "Service", "nap", "sandbox", 0, "/api/v1/namespaces/nap/services/sandbox");
        expect_path("v1", "ConfigMap", "nap", "c.1", 0, "/api/v1/namespaces/nap/configmaps/c.1");
        expect_path("v1", "Namespace", NULL, "nap", 0, "/api/v1/namespaces/nap");
        expect_path("apps/v1", "Deployment", "nap", "browser", 0, "/apis/apps/v1/namespaces/nap/deployments/browser");
        expect_path("coordination.k8s.io/v1", "Lease", "nap", "nap-agent", 0,
                    "/apis/coordination.k8s.io/v1/namespaces/nap/leases/nap-agent");
        expect_path("v1", "Pod", "nap", "p", -EOPNOTSUPP, NULL); /* never applied... */
        {
                char *p = NULL; /* ... only listed and watched */
                ASSERT_OK(kube_collection_path("v1", "Pod", "nap", &p));
                ASSERT_STREQ(p, "/api/v1/namespaces/nap/pods");
                free(p);
                ASSERT_OK(kube_collection_path("apps/v1", "ReplicaSet", "nap", &p));
                ASSERT_STREQ(p, "/apis/apps/v1/namespaces/nap/replicasets");
                free(p);
        }
        expect_path("extensions/v1beta1", "Deployment", "nap", "d", -EOPNOTSUPP, NULL);
        expect_path("v1", "Service", NULL, "s", -EINVAL, NULL);
        expect_path("v1", "Namespace", "nap", "nap", -EINVAL, NULL);
        expect_path("v1", "Service", "nap", "a/b", -EINVAL, NULL);
        expect_path("v1", "Service", "nap", "../x", -EINVAL, NULL);
        expect_path("v1", "Service", "nap", "x?y", -EINVAL, NULL);
        expect_path("v1", "Service", "Nap", "x", -EINVAL, NULL);
        expect_path("v1", "Service", "n.p", "x", -EINVAL, NULL);
        expect_path("v1", "Service", "nap", "-x", -EINVAL, NULL);
        expect_path("v1", "Service", "nap", "", -EINVAL, NULL);
}

TEST(ref_from_object) {
        cJSON *o = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Service\","
                               "\"metadata\":{\"name\":\"s\",\"namespace\":\"nap\"}}");
        KubeRef ref;

        ASSERT_OK(kube_ref_from_object(o, &ref));
        ASSERT_STREQ(ref.api_version, "v1");
        ASSERT_STREQ(ref.kind, "Service");
        ASSERT_STREQ(ref.namespace, "nap");
        ASSERT_STREQ(ref.name, "s");
        cJSON_Delete(o);
        o = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"nap\"}}");
        ASSERT_OK(kube_ref_from_object(o, &ref));
        ASSERT_NULL(ref.namespace);
        cJSON_Delete(o);
        o = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{}}");
        ASSERT_EQ(kube_ref_from_object(o, &ref), -EINVAL);
        cJSON_Delete(o);
}

TEST(status_messages) {
        KubeError err;

        ASSERT_EQ(kube_error_from_response(422,
                                           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                                           "\"message\":\"Service \\\"b\\\" is invalid: spec.ports[0].nodePort: "
                                           "Invalid value: 30086: provided port is already allocated\","
                                           "\"reason\":\"Invalid\",\"code\":422}",
                                           &err),
                  -EINVAL);
        ASSERT_STREQ(err.message, "Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: 30086: "
                                  "provided port is already allocated (HTTP 422)");
        ASSERT_STREQ(err.reason, "Invalid");
        ASSERT_EQ(err.http_status, 422);

        ASSERT_EQ(kube_error_from_response(404, "{\"kind\":\"Status\",\"message\":\"namespaces \\\"x\\\" not found\","
                                                "\"reason\":\"NotFound\",\"code\":404}",
                                           &err),
                  -ENOENT);
        ASSERT_STREQ(err.message, "namespaces \"x\" not found (HTTP 404)");
        ASSERT_EQ(kube_error_from_response(401, "{\"kind\":\"Status\",\"message\":\"Unauthorized\","
                                                "\"reason\":\"Unauthorized\",\"code\":401}",
                                           &err),
                  -EACCES);
        ASSERT_STREQ(err.message, "Unauthorized: the kubeconfig's credentials were not accepted (HTTP 401)");
        ASSERT_EQ(kube_error_from_response(403, "{\"message\":\"services is forbidden: User \\\"x\\\" cannot patch\"}",
                                           &err),
                  -EACCES);
        ASSERT_STREQ(err.message,
                     "services is forbidden: User \"x\" cannot patch (HTTP 403)");
        ASSERT_EQ(kube_error_from_response(409, "{\"message\":\"Operation cannot be fulfilled\",\"reason\":\"Conflict\"}",
                                           &err),
                  -EEXIST);
        ASSERT_EQ(kube_error_from_response(503, "upstream down\nmore", &err), -EIO);
        ASSERT_STREQ(err.message, "upstream down (HTTP 503)");
        ASSERT_STREQ(err.reason, "");
        ASSERT_EQ(kube_error_from_response(500, "", &err), -EIO);
        ASSERT_STREQ(err.message, "HTTP 500 without a message");
        ASSERT_EQ(kube_error_from_response(429, NULL, &err), -EBUSY);
}

/* Whether a refused apply is a replacement, from the causes of the Status
 * (reason and field), never from its text. The bodies are what
 * kube-apiserver 1.20 answered to each change (captured once against the
 * harness's server, reduced to their causes). */
#define STATUS_422(causes) "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"x is invalid\"," \
                           "\"reason\":\"Invalid\",\"details\":{\"causes\":[" causes "]},\"code\":422}"
#define CAUSE(reason, field) "{\"reason\":\"" reason "\",\"message\":\"m\",\"field\":\"" field "\"}"

TEST(needs_replace) {
        static const struct {
                const char *body;
                bool replace;
        } rows[] = {
                /* Service: clusterIP None over an allocated one */
                { STATUS_422(CAUSE("FieldValueInvalid", "spec.clusterIPs[0]")), true },
                /* Deployment: another selector */
                { STATUS_422(CAUSE("FieldValueInvalid", "spec.selector")), true },
                /* Deployment: Recreate over an older RollingUpdate */
                { STATUS_422(CAUSE("FieldValueForbidden", "spec.strategy.rollingUpdate")), true },
                /* both at once: every cause is one */
                { STATUS_422(CAUSE("FieldValueForbidden", "spec.strategy.rollingUpdate") ","
                             CAUSE("FieldValueInvalid", "spec.selector")), true },
                /* a probe left without its handler */
                { STATUS_422(CAUSE("FieldValueRequired", "spec.template.spec.containers[0].readinessProbe")), true },
                /* Secret: another type */
                { STATUS_422(CAUSE("FieldValueInvalid", "type")), true },
                /* an immutable field and a bad value: a new object would be refused too */
                { STATUS_422(CAUSE("FieldValueInvalid", "spec.template.spec.containers[0].ports[0].containerPort") ","
                             CAUSE("FieldValueInvalid", "spec.selector")), false },
                /* a NodePort taken: nothing a replacement changes */
                { STATUS_422(CAUSE("FieldValueInvalid", "spec.ports[0].nodePort")), false },
                /* the same field with another reason, and near-miss paths */
                { STATUS_422(CAUSE("FieldValueRequired", "spec.selector")), false },
                { STATUS_422(CAUSE("FieldValueForbidden", "spec.strategy")), false },
                { STATUS_422(CAUSE("FieldValueRequired", "spec.template.spec.containers[x].readinessProbe")), false },
                { STATUS_422(CAUSE("FieldValueRequired", "spec.template.spec.containers[0].readinessProbe.exec")),
                  false },
                /* "field is immutable" in the text alone decides nothing */
                { "{\"kind\":\"Status\",\"message\":\"spec.selector: field is immutable\",\"reason\":"
                  "\"Invalid\",\"code\":422}", false },
                { STATUS_422(""), false },
        };
        KubeError err;

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                test_context = rows[i].body;
                ASSERT_EQ(kube_error_from_response(422, rows[i].body, &err), -EINVAL);
                ASSERT_EQ(kube_error_needs_replace(-EINVAL, &err), rows[i].replace);
        }
        test_context = NULL;

        /* the causes as the server gave them, in order */
        ASSERT_EQ(kube_error_from_response(422, rows[3].body, &err), -EINVAL);
        ASSERT_EQ(err.n_causes, 2u);
        ASSERT_STREQ(err.causes[0].reason, "FieldValueForbidden");
        ASSERT_STREQ(err.causes[0].field, "spec.strategy.rollingUpdate");
        ASSERT_STREQ(err.causes[1].reason, "FieldValueInvalid");
        ASSERT_STREQ(err.causes[1].field, "spec.selector");
        /* only a 422 refused with -EINVAL is one */
        ASSERT_TRUE(!kube_error_needs_replace(-EIO, &err));
        ASSERT_TRUE(!kube_error_needs_replace(-EINVAL, NULL));
        /* a message set afterwards forgets the causes */
        kube_error_setf(&err, -EIO, "later");
        ASSERT_EQ(err.n_causes, 0u);
        /* a Secret's answer keeps its causes too */
        ASSERT_EQ(kube_error_from_response_for(422, "/api/v1/namespaces/nap/secrets/s", rows[5].body, &err), -EINVAL);
        ASSERT_TRUE(kube_error_needs_replace(-EINVAL, &err));
}

TEST(secret_paths) {
        ASSERT_TRUE(kube_path_is_secret("/api/v1/namespaces/nap/secrets/nap-sandbox-secret"));
        ASSERT_TRUE(kube_path_is_secret("/api/v1/namespaces/nap/secrets/x?fieldManager=nap-agent&force=true"));
        ASSERT_TRUE(kube_path_is_secret("/api/v1/namespaces/nap/secrets?labelSelector=a%3Db"));
        ASSERT_TRUE(kube_path_is_secret("/api/v1/secrets"));
        ASSERT_TRUE(!kube_path_is_secret("/api/v1/namespaces/secrets/services/x"));
        ASSERT_TRUE(!kube_path_is_secret("/apis/apps/v1/namespaces/nap/deployments/secrets"));
        ASSERT_TRUE(!kube_path_is_secret("/api/v1/namespaces/nap/configmaps/x"));
        ASSERT_TRUE(!kube_path_is_secret(""));
}

/* An answer about a Secret keeps its reason and field paths, never the
 * server's message (an admission webhook may quote the data in it). */
TEST(secret_answers_cut) {
        const char *path = "/api/v1/namespaces/nap/secrets/nap-sandbox-secret?fieldManager=nap-agent&force=true";
        KubeError err;

        ASSERT_EQ(kube_error_from_response_for(
                          422, path,
                          "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Secret \\\"nap-sandbox-secret\\\" is "
                          "invalid: data[JWT_SECRET]: Invalid value: \\\"c2VjcmV0\\\": bad\",\"reason\":\"Invalid\","
                          "\"details\":{\"name\":\"nap-sandbox-secret\",\"kind\":\"Secret\",\"causes\":[{\"reason\":"
                          "\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"c2VjcmV0\\\"\",\"field\":\"data[JWT_SECRET]\"},"
                          "{\"reason\":\"FieldValueForbidden\",\"message\":\"field is immutable\",\"field\":\"type\"}]},"
                          "\"code\":422}",
                          &err),
                  -EINVAL);
        ASSERT_STREQ(err.message, "Secret 'nap-sandbox-secret': Invalid: data[JWT_SECRET] (FieldValueInvalid), type "
                                  "(FieldValueForbidden) field is immutable (HTTP 422; the server's message is not "
                                  "shown: it may quote the Secret's data)");
        ASSERT_TRUE(!strstr(err.message, "c2VjcmV0"));
        /* a proxy's text answer: nothing of it */
        ASSERT_EQ(kube_error_from_response_for(403, path, "denied: {\"data\":{\"K\":\"c2VjcmV0\"}}", &err), -EACCES);
        ASSERT_STREQ(err.message, "Secret: refused (HTTP 403; the server's message is not shown: it may quote the "
                                  "Secret's data); if RBAC refused it, `nap-agent doctor` lists what the kubeconfig's "
                                  "user may not do");
        /* the same answer about a Service is shown */
        ASSERT_EQ(kube_error_from_response_for(403, "/api/v1/namespaces/nap/services/s", "denied: nothing secret",
                                               &err),
                  -EACCES);
        ASSERT_STREQ(err.message, "denied: nothing secret (HTTP 403)");
}

/* Every message passes the redaction step, whole, before it is cut to the
 * size of KubeError: a secret past the cut is not left half there. */
TEST(messages_redacted) {
        const char *secret = "0123456789abcdef0123456789abcdef-the-secret";
        const char *values[] = { secret };
        char body[2048], pad[600];
        KubeError err;

        ASSERT_OK(redact_set_secrets(values, 1));
        snprintf(body, sizeof body, "{\"message\":\"webhook denied: %s\",\"reason\":\"Invalid\"}", secret);
        ASSERT_EQ(kube_error_from_response_for(422, "/apis/apps/v1/namespaces/nap/deployments/d", body, &err), -EINVAL);
        ASSERT_STREQ(err.message, "webhook denied: <redacted> (HTTP 422)");
        memset(pad, 'x', 480);
        pad[480] = 0;
        snprintf(body, sizeof body, "{\"message\":\"%s %s\"}", pad, secret);
        ASSERT_EQ(kube_error_from_response(400, body, &err), -EINVAL);
        ASSERT_TRUE(!strstr(err.message, "0123456789"));
        kube_error_setf(&err, -EIO, "curl: %s", secret);
        ASSERT_STREQ(err.message, "curl: <redacted>");
        kube_error_append(&err, " and %s", secret);
        ASSERT_STREQ(err.message, "curl: <redacted> and <redacted>");
        redact_forget_secrets();
}


/* A port with a bound but not listening socket refuses connections. */
static int refusing_port(int *ret_fd) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *) &a, &len) < 0)
                abort();
        *ret_fd = fd;
        return ntohs(a.sin_port);
}

static void never_called(int r, cJSON *obj, const KubeError *err, void *userdata) {
        abort();
}

TEST(client_refused_and_cancelled) {
        KubeClientOptions opts = { .deadline_usec = 1200 * USEC_PER_MSEC, .backoff_initial_usec = 50 * USEC_PER_MSEC,
                                   .backoff_max_usec = 200 * USEC_PER_MSEC };
        KubeRef ref = { "v1", "Service", "nap", "s" };
        KubeClient *c = NULL;
        KubeStats stats;
        KubeError err;
        char text[1024];
        cJSON *o = NULL;
        int fd, port = refusing_port(&fd);

        tmp_setup();
        snprintf(text, sizeof text,
                 HEAD "clusters:\n- name: k1\n  cluster: {server: 'https://127.0.0.1:%d'}\n"
                      "users:\n- name: u1\n  user: {token: s3cr3t}\n",
                 port);
        ASSERT_OK(kube_client_new(write_file("kubeconfig", text), &opts, NULL, &c, &err));
        ASSERT_EQ(kube_get(c, &ref, &o, &err), -ECONNREFUSED);
        ASSERT_NULL(o);
        kube_client_stats(c, &stats);
        ASSERT_TRUE(stats.requests >= 3);
        ASSERT_TRUE(strstr(err.message, "cannot connect to 'https://127.0.0.1:") != NULL);
        ASSERT_TRUE(strstr(err.message, "gave up after") != NULL);
        ASSERT_TRUE(strstr(err.message, "s3cr3t") == NULL);
        kube_client_free(c);

        /* Cancelled while it waits to retry: no callback, nothing left running. */
        ASSERT_OK(kube_client_new(write_file("kubeconfig", text), &opts, NULL, &c, &err));
        KubeOp *op = NULL;
        ASSERT_OK(kube_get_start(c, "/api/v1/namespaces/nap/services/s", never_called, NULL, &op));
        ASSERT_TRUE(!(kube_client_idle(c)));
        for (int i = 0; i < 20; i++)
                ASSERT_TRUE(sd_event_run(kube_client_event(c), 10 * 1000) >= 0);
        kube_op_cancel(op);
        ASSERT_TRUE(kube_client_idle(c));
        for (int i = 0; i < 5; i++)
                ASSERT_TRUE(sd_event_run(kube_client_event(c), 10 * 1000) >= 0);
        c = kube_client_free(c);
        close(fd);

        ASSERT_EQ(kube_client_new("/nonexistent/kc", NULL, NULL, &c, &err), -ENOENT);
        ASSERT_NULL(c);
}

static void cleanup(void) {
        if (tmpdir[0])
                nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void assert_patch(const char *live_json, unsigned flags, const char *want) {
        _cleanup_(cJSON_Deletep) cJSON *live = cJSON_Parse(live_json), *patch = NULL;
        _cleanup_free_ char *text = NULL;

        ASSERT_TRUE(live);
        ASSERT_OK(kube_adopt_patch(live, "v1", flags, &patch));
        if (!want) {
                ASSERT_NULL(patch);
                return;
        }
        ASSERT_TRUE(patch);
        text = cJSON_PrintUnformatted(patch);
        ASSERT_STREQ(text, want);
}

/* What install.sh's `kubectl apply --server-side` owned (manager kubectl,
 * Apply) becomes nap-agent's Apply entry; the fields of Update managers (an
 * operator's kubectl label/edit/set, a controller) stay theirs, and the
 * patch is guarded by the resourceVersion read. */
TEST(adopt_patch) {
        assert_patch("{\"metadata\":{\"resourceVersion\":\"42\",\"managedFields\":["
                     "{\"manager\":\"kubectl\",\"operation\":\"Apply\",\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:a\":{}}},\"f:spec\":{\"f:type\":{}}}},"
                     "{\"manager\":\"kubectl-label\",\"operation\":\"Update\",\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:b\":{}}}}},"
                     "{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\",\"fieldsV1\":{\"f:status\":{}}}]}}",
                     0,
                     "{\"metadata\":{\"resourceVersion\":\"42\",\"managedFields\":["
                     "{\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:a\":{}}},\"f:spec\":{\"f:type\":{}}},"
                     "\"manager\":\"nap-agent\",\"operation\":\"Apply\",\"apiVersion\":\"v1\",\"fieldsType\":\"FieldsV1\"},"
                     "{\"manager\":\"kubectl-label\",\"operation\":\"Update\",\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:b\":{}}}}},"
                     "{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\",\"fieldsV1\":{\"f:status\":{}}}]}}");

        /* install.sh re-ran after nap-agent applied it: kubectl's fields join
         * nap-agent's entry, which keeps everything else it had. */
        assert_patch("{\"metadata\":{\"resourceVersion\":\"7\",\"managedFields\":["
                     "{\"manager\":\"kubectl\",\"operation\":\"Apply\",\"fieldsV1\":{\"f:data\":{\"f:x\":{}},\"f:type\":{}}},"
                     "{\"manager\":\"nap-agent\",\"operation\":\"Apply\",\"apiVersion\":\"v1\",\"time\":\"T\","
                     "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:data\":{\"f:y\":{}}}},"
                     "{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\",\"fieldsV1\":{}}]}}",
                     0,
                     "{\"metadata\":{\"resourceVersion\":\"7\",\"managedFields\":["
                     "{\"manager\":\"nap-agent\",\"operation\":\"Apply\",\"apiVersion\":\"v1\",\"time\":\"T\","
                     "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:data\":{\"f:y\":{},\"f:x\":{}},\"f:type\":{}}},"
                     "{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\",\"fieldsV1\":{}}]}}");

        /* Only Update managers (and nap-agent): nothing of install.sh's to take. */
        assert_patch("{\"metadata\":{\"resourceVersion\":\"8\",\"managedFields\":["
                     "{\"manager\":\"nap-agent\",\"operation\":\"Apply\",\"fieldsV1\":{\"f:data\":{}}},"
                     "{\"manager\":\"kubectl-edit\",\"operation\":\"Update\",\"fieldsV1\":{\"f:data\":{}}}]}}",
                     KUBE_APPLY_TAKE_PATCHED, NULL);
}

/* install.sh's `kubectl patch`es of coturn and the warmer (manager
 * kubectl-patch, an Update): with KUBE_APPLY_TAKE_PATCHED their pod
 * placement (nodeSelector, tolerations, imagePullSecrets) is taken, and
 * nothing else of that manager; without, nothing. */
TEST(adopt_patched) {
        static const char live[] =
                "{\"metadata\":{\"resourceVersion\":\"9\",\"managedFields\":["
                "{\"manager\":\"kubectl\",\"operation\":\"Apply\",\"fieldsV1\":{\"f:spec\":{\"f:replicas\":{}}}},"
                "{\"manager\":\"kubectl-patch\",\"operation\":\"Update\",\"fieldsV1\":{\"f:spec\":{"
                "\"f:paused\":{},\"f:template\":{\"f:metadata\":{\"f:labels\":{\"f:x\":{}}},\"f:spec\":{"
                "\"f:imagePullSecrets\":{\".\":{},\"k:{\\\"name\\\":\\\"pull\\\"}\":{\".\":{},\"f:name\":{}}},"
                "\"f:nodeSelector\":{\".\":{},\"f:a\":{}},\"f:tolerations\":{},\"f:hostPID\":{}}}}}}]}}";

        assert_patch(live, KUBE_APPLY_TAKE_PATCHED,
                     "{\"metadata\":{\"resourceVersion\":\"9\",\"managedFields\":["
                     "{\"fieldsV1\":{\"f:spec\":{\"f:replicas\":{},\"f:template\":{\"f:spec\":{"
                     "\"f:nodeSelector\":{\".\":{},\"f:a\":{}},\"f:tolerations\":{},"
                     "\"f:imagePullSecrets\":{\".\":{},\"k:{\\\"name\\\":\\\"pull\\\"}\":{\".\":{},\"f:name\":{}}}}}}},"
                     "\"manager\":\"nap-agent\",\"operation\":\"Apply\",\"apiVersion\":\"v1\",\"fieldsType\":\"FieldsV1\"},"
                     "{\"manager\":\"kubectl-patch\",\"operation\":\"Update\",\"fieldsV1\":{\"f:spec\":{"
                     "\"f:paused\":{},\"f:template\":{\"f:metadata\":{\"f:labels\":{\"f:x\":{}}},\"f:spec\":{"
                     "\"f:hostPID\":{}}}}}}]}}");
        assert_patch(live, 0,
                     "{\"metadata\":{\"resourceVersion\":\"9\",\"managedFields\":["
                     "{\"fieldsV1\":{\"f:spec\":{\"f:replicas\":{}}},"
                     "\"manager\":\"nap-agent\",\"operation\":\"Apply\",\"apiVersion\":\"v1\",\"fieldsType\":\"FieldsV1\"},"
                     "{\"manager\":\"kubectl-patch\",\"operation\":\"Update\",\"fieldsV1\":{\"f:spec\":{"
                     "\"f:paused\":{},\"f:template\":{\"f:metadata\":{\"f:labels\":{\"f:x\":{}}},\"f:spec\":{"
                     "\"f:imagePullSecrets\":{\".\":{},\"k:{\\\"name\\\":\\\"pull\\\"}\":{\".\":{},\"f:name\":{}}},"
                     "\"f:nodeSelector\":{\".\":{},\"f:a\":{}},\"f:tolerations\":{},\"f:hostPID\":{}}}}}}]}}");

        /* A patch of the placement only: the whole entry goes. */
        assert_patch("{\"metadata\":{\"resourceVersion\":\"10\",\"managedFields\":["
                     "{\"manager\":\"kubectl-patch\",\"operation\":\"Update\",\"fieldsV1\":{\"f:spec\":{\"f:template\":"
                     "{\"f:spec\":{\"f:nodeSelector\":{\".\":{},\"f:a\":{}}}}}}}]}}",
                     KUBE_APPLY_TAKE_PATCHED,
                     "{\"metadata\":{\"resourceVersion\":\"10\",\"managedFields\":["
                     "{\"fieldsV1\":{\"f:spec\":{\"f:template\":{\"f:spec\":{\"f:nodeSelector\":{\".\":{},\"f:a\":{}}}}}},"
                     "\"manager\":\"nap-agent\",\"operation\":\"Apply\",\"apiVersion\":\"v1\",\"fieldsType\":\"FieldsV1\"}]}}");
        /* An operator's patch of something else: nothing to take. */
        assert_patch("{\"metadata\":{\"resourceVersion\":\"11\",\"managedFields\":["
                     "{\"manager\":\"kubectl-patch\",\"operation\":\"Update\",\"fieldsV1\":{\"f:spec\":{\"f:paused\":{}}}}]}}",
                     KUBE_APPLY_TAKE_PATCHED, NULL);
}

/* What a takeover followed by an apply of want removes: live fields of
 * install.sh's managers that want does not set, unless another manager
 * (an operator's kubectl edit or label) owns them too. */
TEST(adopt_leftovers) {
        static const char live_json[] =
                "{\"metadata\":{\"labels\":{\"app\":\"c\",\"team\":\"t\"},\"managedFields\":["
                "{\"manager\":\"kubectl\",\"operation\":\"Apply\",\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{"
                "\"f:app\":{},\"f:team\":{}}},\"f:spec\":{\"f:replicas\":{}},\"f:stringData\":{\"f:K\":{}}}},"
                "{\"manager\":\"kubectl-label\",\"operation\":\"Update\",\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:team\":{}}}}},"
                "{\"manager\":\"kubectl-patch\",\"operation\":\"Update\",\"fieldsV1\":{\"f:spec\":{\"f:template\":{\"f:spec\":{"
                "\"f:nodeSelector\":{\".\":{},\"f:a\":{},\"f:b\":{}},\"f:tolerations\":{},"
                "\"f:imagePullSecrets\":{\".\":{},\"k:{\\\"name\\\":\\\"p\\\"}\":{\".\":{},\"f:name\":{}}}}}}}},"
                "{\"manager\":\"kubectl-edit\",\"operation\":\"Update\",\"fieldsV1\":{\"f:spec\":{\"f:template\":{\"f:spec\":{"
                "\"f:nodeSelector\":{\"f:a\":{}}}}}}}]},"
                "\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"nodeSelector\":{\"a\":\"1\",\"b\":\"2\"},"
                "\"tolerations\":[{\"operator\":\"Exists\"}],\"imagePullSecrets\":[{\"name\":\"p\"}]}}}}";
        _cleanup_(cJSON_Deletep) cJSON *live = cJSON_Parse(live_json);
        /* the selector cleared, the pull secret kept; replicas still set */
        _cleanup_(cJSON_Deletep) cJSON *want = cJSON_Parse(
                "{\"metadata\":{\"labels\":{\"app\":\"c\"}},\"spec\":{\"replicas\":1,\"template\":{\"spec\":{"
                "\"imagePullSecrets\":[{\"name\":\"p\"}]}}}}");
        _cleanup_free_ char *text = NULL;

        ASSERT_TRUE(live && want);
        /* nodeSelector.b and tolerations; not nodeSelector.a (kubectl-edit's
         * too), not the label team (kubectl-label's too), not stringData
         * (never live) */
        ASSERT_EQ(kube_adopt_leftovers(live, want, KUBE_APPLY_TAKE_PATCHED, false), 2);
        ASSERT_EQ(kube_adopt_leftovers(live, want, 0, false), 0); /* kubectl-patch's are not taken */
        ASSERT_EQ(kube_adopt_leftovers(live, live, KUBE_APPLY_TAKE_PATCHED, false), 0);
        ASSERT_EQ(kube_adopt_leftovers(live, want, KUBE_APPLY_TAKE_PATCHED, true), 2);
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(live, "metadata"), "managedFields");
        text = cJSON_PrintUnformatted(live);
        ASSERT_STREQ(text, "{\"metadata\":{\"labels\":{\"app\":\"c\",\"team\":\"t\"}},"
                           "\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"nodeSelector\":{\"a\":\"1\"},"
                           "\"imagePullSecrets\":[{\"name\":\"p\"}]}}}}");
}

/* What an earlier apply of nap-agent owned that is no longer desired: the
 * next apply would remove it, so a resync must write. */
TEST(owned_beyond) {
        cJSON *live = cJSON_Parse(
                "{\"metadata\":{\"managedFields\":[{\"manager\":\"kubectl-label\",\"operation\":\"Update\","
                "\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:team\":{}}}}},"
                "{\"manager\":\"nap-agent\",\"operation\":\"Apply\",\"fieldsV1\":{\"f:spec\":{"
                "\"f:template\":{\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"c\\\"}\":{\".\":{},"
                "\"f:env\":{\"k:{\\\"name\\\":\\\"A\\\"}\":{\".\":{},\"f:name\":{},\"f:value\":{}}},"
                "\"f:readinessProbe\":{\"f:periodSeconds\":{}}}}}},\"f:finalizers\":{\"v:\\\"x\\\"\":{}}}}}]}}");
        cJSON *all = cJSON_Parse("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
                                 "\"env\":[{\"name\":\"A\",\"value\":\"1\"}],\"readinessProbe\":{\"periodSeconds\":5}}]}},"
                                 "\"finalizers\":[\"x\"]}}");
        cJSON *no_probe = cJSON_Parse("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
                                      "\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}]}},\"finalizers\":[\"x\"]}}");
        cJSON *no_env = cJSON_Parse("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
                                    "\"env\":[{\"name\":\"B\",\"value\":\"1\"}],\"readinessProbe\":{\"periodSeconds\":5}}]}},"
                                    "\"finalizers\":[\"x\"]}}");
        cJSON *no_value = cJSON_Parse("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
                                      "\"env\":[{\"name\":\"A\",\"value\":\"1\"}],\"readinessProbe\":{\"periodSeconds\":5}}]}},"
                                      "\"finalizers\":[\"y\"]}}");

        ASSERT_TRUE(live && all && no_probe && no_env && no_value);
        ASSERT_TRUE(!kube_owned_beyond(live, all)); /* the operator's label is not ours */
        ASSERT_TRUE(kube_owned_beyond(live, no_probe));
        ASSERT_TRUE(kube_owned_beyond(live, no_env));
        ASSERT_TRUE(kube_owned_beyond(live, no_value));
        cJSON_Delete(live);
        cJSON_Delete(all);
        cJSON_Delete(no_probe);
        cJSON_Delete(no_env);
        cJSON_Delete(no_value);
}

/* What a resync compares: every field the agent sets, whatever others added. */
TEST(json_covers) {
        cJSON *have = cJSON_Parse("{\"metadata\":{\"name\":\"x\",\"labels\":{\"a\":\"1\",\"op\":\"2\"}},"
                                  "\"spec\":{\"args\":[\"-a\",\"-b\"],\"env\":[{\"name\":\"X\",\"value\":\"1\"},"
                                  "{\"name\":\"OPS\",\"value\":\"y\"}],\"port\":3006},\"status\":{\"r\":1}}");
        cJSON *want = cJSON_Parse("{\"metadata\":{\"name\":\"x\",\"labels\":{\"a\":\"1\"}},"
                                  "\"spec\":{\"args\":[\"-a\",\"-b\"],\"env\":[{\"name\":\"X\",\"value\":\"1\"}],\"port\":3006}}");
        cJSON *args = cJSON_Parse("{\"spec\":{\"args\":[\"-a\"]}}");
        cJSON *env = cJSON_Parse("{\"spec\":{\"env\":[{\"name\":\"X\",\"value\":\"2\"}]}}");
        cJSON *port = cJSON_Parse("{\"spec\":{\"port\":3007}}");

        ASSERT_TRUE(have && want && args && env && port);
        ASSERT_TRUE(json_covers(have, want));
        ASSERT_TRUE(!(json_covers(have, args))); /* a list of strings is compared whole */
        ASSERT_TRUE(!(json_covers(have, env)));
        ASSERT_TRUE(!(json_covers(have, port)));
        ASSERT_TRUE(!(json_covers(want, have)));
        cJSON_Delete(have);
        cJSON_Delete(want);
        cJSON_Delete(args);
        cJSON_Delete(env);
        cJSON_Delete(port);
}

static void expect_request(const char *method, const char *path, bool apply, const char *verb, const char *kind) {
        KubeVerb v;
        size_t k;

        test_context = path;
        kube_request_classify(method, path, apply, &v, &k);
        ASSERT_STREQ(kube_verb_to_string(v), verb);
        ASSERT_STREQ(kube_kind_at(k), kind);
        test_context = NULL;
}

/* What the metrics count a request as: the verb from the method, the body
 * and the query; the kind from the path's group, version and resource. */
TEST(request_classes) {
        KubeRequests a = { 0 }, b = { 0 };

        expect_request("GET", "/apis/apps/v1/namespaces/nap/deployments/nap-browser", false, "get", "Deployment");
        expect_request("GET", "/apis/apps/v1/namespaces/nap/deployments", false, "list", "Deployment");
        expect_request("GET", "/apis/apps/v1/namespaces/nap/deployments?labelSelector=a%3Db", false, "list",
                       "Deployment");
        expect_request("GET", "/api/v1/namespaces/nap/pods?watch=1&resourceVersion=5", false, "watch", "Pod");
        expect_request("GET", "/apis/apps/v1/namespaces/nap/replicasets?resourceVersion=5&watch=true", false,
                       "watch", "ReplicaSet");
        expect_request("PATCH", "/api/v1/namespaces/nap/services/nap-sandbox?fieldManager=nap-agent&force=true",
                       true, "apply", "Service");
        expect_request("PATCH", "/api/v1/namespaces/nap/secrets/s?dryRun=All", true, "apply", "Secret");
        expect_request("PATCH", "/apis/apps/v1/namespaces/nap/daemonsets/sandbox-image-warmer", false, "patch",
                       "DaemonSet");
        expect_request("DELETE", "/api/v1/namespaces/nap/services/x?propagationPolicy=Background", false, "delete",
                       "Service");
        expect_request("POST", "/api/v1/namespaces/nap/secrets", false, "create", "Secret");
        expect_request("PUT", "/api/v1/namespaces/nap/configmaps/c", false, "update", "ConfigMap");
        /* the namespace itself, and the collection of namespaces */
        expect_request("GET", "/api/v1/namespaces/nap", false, "get", "Namespace");
        expect_request("GET", "/api/v1/namespaces", false, "list", "Namespace");
        expect_request("GET", "/apis/coordination.k8s.io/v1/namespaces/nap/leases/l", false, "get", "Lease");
        /* what names no kind of ours */
        expect_request("GET", "/version", false, "get", "other");
        expect_request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", false, "create", "other");
        expect_request("GET", "/apis/extensions/v1beta1/namespaces/nap/deployments/d", false, "get", "other");
        expect_request("GET", "/api/v1/namespaces/nap/events", false, "list", "other");
        expect_request("HEAD", "/api/v1/namespaces/nap/services/s", false, "other", "Service");
        expect_request("GET", "/", false, "get", "other");
        expect_request("GET", "", false, "get", "other");

        a.n[KUBE_VERB_APPLY][1] = 2;
        b.n[KUBE_VERB_APPLY][1] = 3;
        b.n[KUBE_VERB_WATCH][KUBE_N_KINDS - 1] = 1;
        kube_requests_add(&a, &b);
        ASSERT_EQ(a.n[KUBE_VERB_APPLY][1], 5);
        ASSERT_EQ(a.n[KUBE_VERB_WATCH][KUBE_N_KINDS - 1], 1);
        ASSERT_STREQ(kube_kind_at(KUBE_N_KINDS - 1), "other");
}

static const TestCase cases[] = {
        T(token), T(token_file_relative), T(client_cert_data), T(files_relative_to_kubeconfig), T(errors),
        T(missing_file), T(locate), T(paths), T(ref_from_object), T(status_messages), T(needs_replace),
        T(secret_paths),
        T(secret_answers_cut), T(messages_redacted), T(server_name_and_proxy),
        T(client_refused_and_cancelled), T(adopt_patch), T(adopt_patched), T(adopt_leftovers), T(owned_beyond),
        T(json_covers), T(request_classes),
};

int main(void) {
        int r;

        tmp_setup();
        r = test_run(cases, ELEMENTSOF(cases));
        cleanup();
        return r;
}
