/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the Kubernetes client gets its connection from: find the kubeconfig
 * and read the parts of it that nap-agent uses (current-context -> cluster
 * server, CA, insecure-skip-tls-verify, tls-server-name, proxy-url; user
 * token, tokenFile, client certificate and key), with libyaml. Files named in it are relative to the
 * kubeconfig's directory and are read here, so every credential reaches curl
 * as a blob and a missing file is reported at load time. Errors name the file
 * and the field; never a token or key.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kube.h"

typedef struct KubeBlob {
        unsigned char *data;
        size_t size;
} KubeBlob;

typedef struct KubeConfig {
        char *path;    /* the file it was read from */
        char *context; /* names, as in the file */
        char *cluster;
        char *user;
        char *namespace; /* of the context, or NULL */

        char *server; /* without trailing '/' */
        bool insecure_skip_tls_verify;
        KubeBlob ca;  /* PEM; size 0: the system's trust store */
        char *tls_server_name; /* the name sent as SNI and checked in the certificate, or NULL */
        char *request_base;    /* what request paths follow: server, or with tls-server-name the same
                                * URL naming that host, so a TLS client sends and checks that name */
        char *connect_to;      /* with tls-server-name: "NAME:PORT:SERVERHOST:PORT", where the
                                * connection really goes (curl's CURLOPT_CONNECT_TO); else NULL */
        char *proxy_url;       /* http://, https:// or socks5h:// (the file's socks5://: names are resolved
                                * by the proxy, as client-go does) proxy, or NULL (then $https_proxy...);
                                * may hold a password: wiped */

        char *token;         /* secret; NULL: no bearer token */
        KubeBlob client_cert; /* PEM; size 0: none */
        KubeBlob client_key;  /* PEM; secret */
} KubeConfig;

/* Reads path. -ENOENT when it does not exist, -EINVAL (with err) when it is
 * not a usable kubeconfig, -EACCES when it or a file it names is unreadable. */
int kube_config_load(const char *path, KubeConfig **ret, KubeError *err);
/* Parses text (len bytes) as the kubeconfig at path (what kube_config_load
 * does after reading it; files it names are read relative to path). */
int kube_config_parse(const char *path, const char *text, size_t len, KubeConfig **ret, KubeError *err);
/* Wipes the secrets and frees. */
KubeConfig *kube_config_free(KubeConfig *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(KubeConfig *, kube_config_free);

/* The kubeconfigs the unit hands in as systemd credentials (LoadCredential=):
 * the operator's (/etc/nap/kubeconfig, or what a drop-in names) and k3s's,
 * root-only on a k3s node. Each is paired with SetCredential=ID:none, which
 * systemd uses when the file is missing: that content means "none". */
#define KUBE_CREDENTIAL "kubeconfig"
#define KUBE_CREDENTIAL_K3S "k3s-kubeconfig"
#define KUBE_CREDENTIAL_NONE "none"
#define KUBE_K3S_KUBECONFIG "/etc/rancher/k3s/k3s.yaml"

/* Picks the kubeconfig, in the order a service needs (issues 12, 22):
 * explicit_path (--kubeconfig), else $KUBECONFIG (its first entry), else
 * the credential KUBE_CREDENTIAL when systemd handed one in, else
 * values_kubeconfig (KUBECONFIG of values.env, relative to values_dir)
 * when this process can read it, else the credential KUBE_CREDENTIAL_K3S
 * (so a service that cannot read k3s's root-only file, which values.env
 * names on a k3s node, gets it from systemd), else the first readable of
 * /etc/rancher/k3s/k3s.yaml, /etc/kubernetes/admin.conf. The first two are
 * returned even if they do not exist (loading then says so). A values.env
 * path that cannot be used (the platform's files carry
 * `KUBECONFIG=./kubeconfig.yaml`, meant for install.sh's shell; a file the
 * service's user cannot read) is passed over when it was looked at: on
 * success *ret_skipped (may be NULL) gets it, for the caller to warn about,
 * or NULL (also when the k3s credential stood in for it). -ENOENT when
 * nothing is found. */
int kube_config_locate(const char *explicit_path, const char *values_kubeconfig, const char *values_dir,
                       char **ret_path, char **ret_skipped);
/* What kube_config_locate() found in each place it looks without an
 * explicit path, for the one line that says none could be used: "tried
 * the credential 'kubeconfig' (none), values.env's KUBECONFIG '...'
 * (missing), ...". The credentials only under systemd ($CREDENTIALS_DIRECTORY). */
int kube_config_describe_search(const char *values_kubeconfig, const char *values_dir, char **ret);
/* Same, with the well-known paths (NULL-terminated) given, for tests. */
int kube_config_locate_in(const char *explicit_path, const char *values_kubeconfig, const char *values_dir,
                          const char *const *defaults, char **ret_path, char **ret_skipped);

