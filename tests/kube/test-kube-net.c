/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kubeconfig's tls-server-name and proxy-url against the harness's real
 * kube-apiserver (run through with-harness.sh), with the fault proxy
 * (tests/lib/naptest/faultproxy.py) on loopback in front of it:
 *
 *   - tls-server-name: the server is reached at https://[::1]:PORT through a
 *     TCP forwarder; ::1 is not in the harness certificate's names, so
 *     without tls-server-name the TLS check fails, with "kubernetes" (one of
 *     its names) it passes and the forwarder saw "kubernetes" as SNI, and
 *     with a name the certificate does not carry it fails again;
 *   - proxy-url http:// (an HTTP CONNECT proxy) and socks5:// (a SOCKS5
 *     proxy): the requests go through the proxy, which saw the server's
 *     address as the tunnel's target; a proxy-url that refuses connections
 *     makes the request fail (nothing goes around the proxy);
 *   - both at once: the tunnel goes to the server's address, the TLS name
 *     is tls-server-name.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kube-harness.h"
#include "kube.h"
#include "tests.h"

static char api_hostport[64];

typedef struct Proxy {
        pid_t pid;
        int port;
        char log[512];
} Proxy;

static pid_t started[16]; /* stopped at the end even when a test failed half-way */
static size_t n_started;

/* A kubeconfig for server with the harness's CA and token; extra: more
 * lines of the cluster (indented 4). */
static const char *kubeconfig(const char *server, const char *extra) {
        const char *p = tmp_path("kubeconfig");
        FILE *f = fopen(p, "w");

        if (!f)
                abort();
        fprintf(f, "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                   "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                   "clusters:\n- name: k\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n%s\n"
                   "users:\n- name: u\n  user:\n    token: %s\n",
                server, ca_b64, extra, token);
        fclose(f);
        return p;
}

static void proxy_start(Proxy *p, const char *mode, const char *target) {
        char port_file[512], buf[16] = "";

        snprintf(port_file, sizeof port_file, "%s/%s.port", tmpdir, mode);
        snprintf(p->log, sizeof p->log, "%s/%s.log", tmpdir, mode);
        unlink(port_file);
        p->pid = fork();
        if (p->pid == 0) {
                execlp("python3", "python3", FAULT_PROXY, mode, "--port-file", port_file, "--log", p->log,
                       target ? "--target" : (char *) NULL, target, (char *) NULL);
                _exit(127);
        }
        for (int i = 0; i < 100 && !buf[0]; i++) { /* up to 10 s */
                FILE *f = fopen(port_file, "r");
                if (f) {
                        if (!fgets(buf, sizeof buf, f))
                                buf[0] = 0;
                        fclose(f);
                }
                if (!buf[0])
                        usleep(100000);
        }
        if (n_started < ELEMENTSOF(started))
                started[n_started++] = p->pid;
        if (!buf[0])
                TEST_FAIL("faultproxy.py %s did not start", mode);
        p->port = atoi(buf);
}

static void stop_pid(pid_t pid) {
        for (size_t i = 0; i < n_started; i++)
                if (started[i] == pid) {
                        kill(pid, SIGTERM);
                        waitpid(pid, NULL, 0);
                        started[i] = 0;
                }
}

static void proxy_stop(Proxy *p) {
        if (p->pid > 0)
                stop_pid(p->pid);
        p->pid = 0;
}

/* The proxy's log, truncated after reading. */
static char *proxy_log(Proxy *p) {
        static char text[8192];
        FILE *f = fopen(p->log, "r");
        size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;

        if (f)
                fclose(f);
        text[n] = 0;
        if (truncate(p->log, 0) < 0)
                TEST_FAIL("cannot empty %s", p->log);
        return text;
}

/* GET of a namespace through a client made from kubeconfig at path. */
static int get_namespace(const char *path, KubeError *err) {
        KubeClientOptions o = { .deadline_usec = 4 * USEC_PER_SEC, .connect_timeout_usec = 2 * USEC_PER_SEC,
                                .request_timeout_usec = 2 * USEC_PER_SEC };
        KubeClient *c = NULL;
        cJSON *obj = NULL;
        int r;

        r = kube_client_new(path, &o, NULL, &c, err);
        if (r < 0)
                return r;
        r = kube_get_path(c, "/api/v1/namespaces/default", &obj, err);
        if (r >= 0)
                ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "name")->valuestring, "default");
        cJSON_Delete(obj);
        kube_client_free(c);
        return r;
}

TEST(tls_server_name) {
        Proxy fwd = { 0 };
        char server[64];
        KubeError err;

        proxy_start(&fwd, "forward", api_hostport);
        snprintf(server, sizeof server, "https://[::1]:%d", fwd.port);

        /* ::1 is not a name of the certificate */
        ASSERT_EQ(get_namespace(kubeconfig(server, ""), &err), -EPROTO);
        printf("  without tls-server-name: %s\n", err.message);
        ASSERT_TRUE(strstr(proxy_log(&fwd), "\"sni\": null") != NULL); /* no SNI for an IP address */

        if (get_namespace(kubeconfig(server, "    tls-server-name: kubernetes"), &err) < 0)
                TEST_FAIL("with tls-server-name kubernetes: %s", err.message);
        ASSERT_TRUE(strstr(proxy_log(&fwd), "\"sni\": \"kubernetes\"") != NULL);

        ASSERT_EQ(get_namespace(kubeconfig(server, "    tls-server-name: not-a-name-of-the-cert.example"), &err),
                  -EPROTO);
        printf("  with a name the certificate lacks: %s\n", err.message);
        ASSERT_TRUE(strstr(proxy_log(&fwd), "\"sni\": \"not-a-name-of-the-cert.example\"") != NULL);
        proxy_stop(&fwd);
}

static void check_proxied(const char *mode, const char *scheme) {
        Proxy p = { 0 };
        char extra[128], want[128];
        KubeError err;

        proxy_start(&p, mode, NULL);
        snprintf(extra, sizeof extra, "    proxy-url: %s://127.0.0.1:%d", scheme, p.port);
        ASSERT_OK(get_namespace(kubeconfig(api_url, extra), &err));
        snprintf(want, sizeof want, "\"target\": \"%s\"", api_hostport);
        const char *log = proxy_log(&p);
        printf("  %s: %s", mode, log);
        ASSERT_TRUE(strstr(log, want) != NULL);
        /* both: the tunnel to the server's address, TLS to the given name */
        snprintf(extra, sizeof extra, "    proxy-url: %s://127.0.0.1:%d\n    tls-server-name: kubernetes", scheme,
                 p.port);
        ASSERT_OK(get_namespace(kubeconfig(api_url, extra), &err));
        log = proxy_log(&p);
        printf("  %s with tls-server-name: %s", mode, log);
        ASSERT_TRUE(strstr(log, want) != NULL);
        proxy_stop(&p);
        /* the proxy gone: the request fails, it does not go around it */
        ASSERT_TRUE(get_namespace(kubeconfig(api_url, extra), &err) < 0);
        printf("  %s stopped: %s\n", mode, err.message);
}

TEST(proxy_url_http_connect) {
        check_proxied("connect", "http");
}

TEST(proxy_url_socks5) {
        check_proxied("socks5", "socks5");
}

TEST(proxy_url_refused_scheme) {
        KubeError err;

        ASSERT_EQ(get_namespace(kubeconfig(api_url, "    proxy-url: ftp://user:pw-in-url@127.0.0.1:1"), &err), -EINVAL);
        ASSERT_TRUE(strstr(err.message, "proxy-url is not an http://, https:// or socks5:// URL") != NULL);
        ASSERT_NULL(strstr(err.message, "pw-in-url"));
}

int main(void) {
        int r;

        if (kube_harness_init("test-kube-net", NULL) < 0)
                return 1;
        snprintf(api_hostport, sizeof api_hostport, "%s", api_url + 8);
        api_hostport[strcspn(api_hostport, "/")] = 0;
        /* a kubeconfig's proxy-url wins over these; without one, curl would use them */
        unsetenv("https_proxy");
        unsetenv("HTTPS_PROXY");
        unsetenv("http_proxy");
        unsetenv("all_proxy");
        unsetenv("ALL_PROXY");

        static const TestCase cases[] = { T(tls_server_name), T(proxy_url_http_connect), T(proxy_url_socks5),
                                          T(proxy_url_refused_scheme) };
        r = test_run(cases, ELEMENTSOF(cases));
        for (size_t i = 0; i < n_started; i++)
                if (started[i] > 0)
                        stop_pid(started[i]);
        if (kube_harness_done() < 0)
                r = 1;
        return r;
}
