/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubeconfig loading for the Kubernetes client: libyaml's document API,
 * then a walk from current-context to its cluster and user. See kube-config.h.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "kube-config.h"
#include "util/base64.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strbuf.h"

#define KUBECONFIG_MAX (4u * 1024u * 1024u)
#define CREDENTIAL_FILE_MAX (1024u * 1024u)

static void blob_wipe(KubeBlob *b) {
        if (b->data) {
                explicit_bzero(b->data, b->size);
                free(b->data);
        }
        *b = (KubeBlob) { 0 };
}

static void string_wipe(char **s) {
        if (*s) {
                explicit_bzero(*s, strlen(*s));
                free(*s);
                *s = NULL;
        }
}

KubeConfig *kube_config_free(KubeConfig *k) {
        if (!k)
                return NULL;
        free(k->path);
        free(k->context);
        free(k->cluster);
        free(k->user);
        free(k->namespace);
        free(k->server);
        free(k->tls_server_name);
        free(k->request_base);
        free(k->connect_to);
        string_wipe(&k->proxy_url);
        blob_wipe(&k->ca);
        string_wipe(&k->token);
        blob_wipe(&k->client_cert);
        blob_wipe(&k->client_key);
        free(k);
        return NULL;
}

/* ---- base64 ---------------------------------------------------------- */

/* A *-data field into a blob; -EINVAL when bad. */
static int data_decode(const char *in, KubeBlob *ret) {
        return base64_decode(in, &ret->data, &ret->size);
}

/* ---- YAML helpers ---------------------------------------------------- */

typedef struct Doc {
        yaml_document_t doc;
        const char *path;
} Doc;

static yaml_node_t *node_at(Doc *d, int index) {
        return yaml_document_get_node(&d->doc, index);
}

static unsigned node_line(const yaml_node_t *n) {
        return n ? (unsigned) n->start_mark.line + 1 : 0;
}

static const char *node_str(const yaml_node_t *n) {
        if (!n || n->type != YAML_SCALAR_NODE)
                return NULL;
        return (const char *) n->data.scalar.value;
}

/* True for a plain "", "~" or "null": an absent value. */
static bool node_is_null(const yaml_node_t *n) {
        const char *s = node_str(n);
        return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               (streq(s, "") || streq(s, "~") || streq(s, "null") || streq(s, "Null") || streq(s, "NULL"));
}

static yaml_node_t *map_get(Doc *d, yaml_node_t *map, const char *key) {
        if (!map || map->type != YAML_MAPPING_NODE)
                return NULL;
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
                const char *k = node_str(node_at(d, p->key));
                if (k && streq(k, key)) {
                        yaml_node_t *v = node_at(d, p->value);
                        return node_is_null(v) ? NULL : v;
                }
        }
        return NULL;
}

/* Reads a string field of map (where = "cluster 'x'"); *ret NULL when absent. */
static int get_string(Doc *d, yaml_node_t *map, const char *key, const char *where, const char **ret,
                      KubeError *err) {
        yaml_node_t *v = map_get(d, map, key);

        *ret = NULL;
        if (!v)
                return 0;
        if (v->type != YAML_SCALAR_NODE)
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s':%u: %s: '%s' is not a string", d->path,
                                       node_line(v), where, key);
        *ret = node_str(v);
        return 0;
}

static int get_bool(Doc *d, yaml_node_t *map, const char *key, const char *where, bool *ret, KubeError *err) {
        const char *s;
        int r = get_string(d, map, key, where, &s, err);

        if (r < 0)
                return r;
        if (!s)
                *ret = false;
        else if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0)
                *ret = true;
        else if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 || strcasecmp(s, "off") == 0)
                *ret = false;
        else
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s':%u: %s: '%s' is not a boolean", d->path,
                                       node_line(map_get(d, map, key)), where, key);
        return 0;
}

/* Finds, in the sequence root[list], the entry named name and returns its
 * member `member` (a mapping). kind is "context", "cluster" or "user". */
static yaml_node_t *find_named(Doc *d, yaml_node_t *root, const char *list, const char *member, const char *name) {
        yaml_node_t *seq = map_get(d, root, list);

        if (!seq || seq->type != YAML_SEQUENCE_NODE)
                return NULL;
        for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++) {
                yaml_node_t *entry = node_at(d, *i);
                const char *n = node_str(map_get(d, entry, "name"));
                if (n && streq(n, name)) {
                        yaml_node_t *m = map_get(d, entry, member);
                        return m && m->type == YAML_MAPPING_NODE ? m : NULL;
                }
        }
        return NULL;
}

/* ---- credentials ------------------------------------------------------ */

static char *resolve_path(const char *kubeconfig, const char *file) {
        _cleanup_free_ char *dir = NULL;
        char *p;

        if (file[0] == '/')
                return strdup(file);
        dir = path_dirname(kubeconfig);
        if (!dir || asprintf(&p, "%s/%s", dir, file) < 0)
                return NULL;
        return p;
}

static int read_credential_file(Doc *d, const char *where, const char *key, const char *file, char **ret,
                                size_t *ret_size, KubeError *err) {
        _cleanup_free_ char *p = resolve_path(d->path, file);
        int r;

        if (!p)
                return -ENOMEM;
        r = read_full_file(p, CREDENTIAL_FILE_MAX, ret, ret_size);
        if (r < 0)
                return kube_error_setf(err, r == -EFBIG ? -EINVAL : r, "kubeconfig '%s': %s: %s '%s': %s", d->path,
                                       where, key, p, STRERROR(r));
        return 0;
}

static bool is_pem(const KubeBlob *b) {
        return b->size > 11 && memmem(b->data, b->size, "-----BEGIN ", 11);
}

/* Reads the pair KEY (a file) / KEY-data (base64) into *ret as PEM. */
static int get_pem(Doc *d, yaml_node_t *map, const char *key, const char *where, KubeBlob *ret, KubeError *err) {
        _cleanup_free_ char *data_key = NULL;
        const char *file, *data;
        int r;

        if (asprintf(&data_key, "%s-data", key) < 0)
                return -ENOMEM;
        r = get_string(d, map, key, where, &file, err);
        if (r < 0)
                return r;
        r = get_string(d, map, data_key, where, &data, err);
        if (r < 0)
                return r;

        if (data) { /* as client-go: the data wins over the file */
                r = data_decode(data, ret);
                if (r == -EINVAL)
                        return kube_error_setf(err, r, "kubeconfig '%s':%u: %s: %s is not valid base64", d->path,
                                               node_line(map_get(d, map, data_key)), where, data_key);
                if (r < 0)
                        return r;
                if (!is_pem(ret)) {
                        blob_wipe(ret);
                        return kube_error_setf(err, -EINVAL, "kubeconfig '%s':%u: %s: %s is not PEM data", d->path,
                                               node_line(map_get(d, map, data_key)), where, data_key);
                }
        } else if (file) {
                char *buf;
                size_t size;
                r = read_credential_file(d, where, key, file, &buf, &size, err);
                if (r < 0)
                        return r;
                *ret = (KubeBlob) { .data = (unsigned char *) buf, .size = size };
                if (!is_pem(ret)) {
                        blob_wipe(ret);
                        return kube_error_setf(err, -EINVAL, "kubeconfig '%s': %s: %s '%s' is not a PEM file",
                                               d->path, where, key, file);
                }
        }
        return 0;
}

/* A host name or address: what may stand in a URL's host and a certificate. */
static bool is_server_name(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 253)
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("-._", *p))
                        return false;
        return true;
}

static int load_tls_server_name(Doc *d, yaml_node_t *cluster, const char *where, KubeConfig *k, KubeError *err) {
        const char *name;
        int r;

        r = get_string(d, cluster, "tls-server-name", where, &name, err);
        if (r < 0 || !name)
                return r;
        if (!is_server_name(name))
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s':%u: %s: tls-server-name '%s' is not a host name",
                                       d->path, node_line(map_get(d, cluster, "tls-server-name")), where, name);
        if (!strneq(k->server, "https://", 8))
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s':%u: %s: tls-server-name needs an https:// server",
                                       d->path, node_line(map_get(d, cluster, "tls-server-name")), where);
        k->tls_server_name = strdup(name);
        return k->tls_server_name ? 0 : -ENOMEM;
}

/* request_base and connect_to (see kube-config.h), from server and tls-server-name. */
static int set_request_base(KubeConfig *k) {
        _cleanup_free_ char *host = NULL;
        const char *auth, *end, *colon, *port = "443";
        size_t pl = 3;

        if (!k->tls_server_name) /* (which needs an https:// server) */
                return (k->request_base = strdup(k->server)) ? 0 : -ENOMEM;
        auth = k->server + strlen("https://");
        end = auth + strcspn(auth, "/");
        colon = auth[0] == '[' ? memchr(auth, ']', (size_t) (end - auth)) : auth;
        colon = colon ? memchr(colon, ':', (size_t) (end - colon)) : NULL;
        if (colon)
                port = colon + 1, pl = (size_t) (end - port);
        if (!(host = strndup(auth, (size_t) ((colon ? colon : end) - auth))) ||
            asprintf(&k->request_base, "https://%s:%.*s%s", k->tls_server_name, (int) pl, port, end) < 0 ||
            asprintf(&k->connect_to, "%s:%.*s:%s:%.*s", k->tls_server_name, (int) pl, port, host, (int) pl, port) < 0)
                return -ENOMEM;
        return 0;
}

/* proxy-url, as client-go reads it: http, https or socks5. */
static int load_proxy_url(Doc *d, yaml_node_t *cluster, const char *where, KubeConfig *k, KubeError *err) {
        static const char *const schemes[] = { "http://", "https://", "socks5://" };
        const char *url;
        bool ok = false;
        int r;

        r = get_string(d, cluster, "proxy-url", where, &url, err);
        if (r < 0 || !url)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(schemes); i++)
                ok = ok || (strncasecmp(url, schemes[i], strlen(schemes[i])) == 0 && url[strlen(schemes[i])]);
        for (const char *p = url; ok && *p; p++)
                ok = !isspace((unsigned char) *p) && !iscntrl((unsigned char) *p);
        /* The URL is not quoted back: it may hold a password. */
        if (!ok)
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s':%u: %s: proxy-url is not an http://, https:// "
                                       "or socks5:// URL", d->path, node_line(map_get(d, cluster, "proxy-url")), where);
        /* socks5: names resolved by the proxy, as client-go does (curl's socks5h) */
        if (strncasecmp(url, "socks5://", 9) == 0)
                return asprintf(&k->proxy_url, "socks5h://%s", url + 9) < 0 ? -ENOMEM : 0;
        k->proxy_url = strdup(url);
        return k->proxy_url ? 0 : -ENOMEM;
}

static int load_cluster(Doc *d, yaml_node_t *cluster, KubeConfig *k, KubeError *err) {
        _cleanup_free_ char *where = NULL;
        const char *server;
        int r;

        if (asprintf(&where, "cluster '%s'", k->cluster) < 0)
                return -ENOMEM;
        r = get_string(d, cluster, "server", where, &server, err);
        if (r < 0)
                return r;
        if (!server)
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s': %s has no server", d->path, where);
        if (!strneq(server, "https://", 8) && !strneq(server, "http://", 7))
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s': %s: server '%s' is not an http(s) URL",
                                       d->path, where, server);
        k->server = strdup(server);
        if (!k->server)
                return -ENOMEM;
        for (size_t n = strlen(k->server); n > 0 && k->server[n - 1] == '/'; n--)
                k->server[n - 1] = 0;

        r = get_bool(d, cluster, "insecure-skip-tls-verify", where, &k->insecure_skip_tls_verify, err);
        if (r < 0)
                return r;
        r = load_tls_server_name(d, cluster, where, k, err);
        if (r >= 0)
                r = set_request_base(k);
        if (r < 0)
                return r;
        r = load_proxy_url(d, cluster, where, k, err);
        if (r < 0)
                return r;
        r = get_pem(d, cluster, "certificate-authority", where, &k->ca, err);
        if (r < 0)
                return r;
        if (k->insecure_skip_tls_verify && k->ca.size > 0)
                return kube_error_setf(err, -EINVAL,
                                       "kubeconfig '%s': %s: a certificate authority together with "
                                       "insecure-skip-tls-verify is not allowed",
                                       d->path, where);
        return 0;
}

static int load_user(Doc *d, yaml_node_t *user, KubeConfig *k, KubeError *err) {
        _cleanup_free_ char *where = NULL;
        const char *token, *token_file;
        int r;

        if (asprintf(&where, "user '%s'", k->user) < 0)
                return -ENOMEM;
        r = get_string(d, user, "token", where, &token, err);
        if (r < 0)
                return r;
        r = get_string(d, user, "tokenFile", where, &token_file, err);
        if (r < 0)
                return r;
        if (token) {
                k->token = strdup(token);
                if (!k->token)
                        return -ENOMEM;
        } else if (token_file) {
                size_t n;
                r = read_credential_file(d, where, "tokenFile", token_file, &k->token, &n, err);
                if (r < 0)
                        return r;
                while (n > 0 && strchr(" \t\r\n", k->token[n - 1]))
                        k->token[--n] = 0;
                if (n == 0)
                        return kube_error_setf(err, -EINVAL, "kubeconfig '%s': %s: tokenFile '%s' is empty",
                                               d->path, where, token_file);
        }
        if (k->token && strpbrk(k->token, "\r\n"))
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s': %s: the token contains a line break",
                                       d->path, where);

        r = get_pem(d, user, "client-certificate", where, &k->client_cert, err);
        if (r < 0)
                return r;
        r = get_pem(d, user, "client-key", where, &k->client_key, err);
        if (r < 0)
                return r;
        if ((k->client_cert.size > 0) != (k->client_key.size > 0))
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s': %s has a client %s but no client %s",
                                       d->path, where, k->client_cert.size > 0 ? "certificate" : "key",
                                       k->client_cert.size > 0 ? "key" : "certificate");

        if (!k->token && k->client_cert.size == 0) {
                static const char *const unsupported[] = { "exec", "auth-provider", "username", "password" };
                for (size_t i = 0; i < ELEMENTSOF(unsupported); i++)
                        if (map_get(d, user, unsupported[i]))
                                return kube_error_setf(err, -EOPNOTSUPP,
                                                       "kubeconfig '%s': %s uses '%s', which nap-agent does not "
                                                       "support (use a token or a client certificate)",
                                                       d->path, where, unsupported[i]);
        }
        return 0;
}

static int load_document(Doc *d, KubeConfig *k, KubeError *err) {
        yaml_node_t *root = yaml_document_get_root_node(&d->doc), *context, *cluster, *user = NULL;
        const char *s;
        int r;

        if (!root || (root->type == YAML_SCALAR_NODE && node_is_null(root)))
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s' is empty", d->path);
        if (root->type != YAML_MAPPING_NODE)
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s' is not a YAML mapping", d->path);

        r = get_string(d, root, "current-context", "top level", &s, err);
        if (r < 0)
                return r;
        if (!s)
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s' has no current-context", d->path);
        if (!(k->context = strdup(s)))
                return -ENOMEM;

        context = find_named(d, root, "contexts", "context", k->context);
        if (!context)
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s': current-context '%s' is not defined",
                                       d->path, k->context);
        r = get_string(d, context, "cluster", "context", &s, err);
        if (r < 0)
                return r;
        if (!s)
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s': context '%s' names no cluster", d->path,
                                       k->context);
        if (!(k->cluster = strdup(s)))
                return -ENOMEM;
        r = get_string(d, context, "user", "context", &s, err);
        if (r < 0)
                return r;
        if (s && !(k->user = strdup(s)))
                return -ENOMEM;
        r = get_string(d, context, "namespace", "context", &s, err);
        if (r < 0)
                return r;
        if (s && !(k->namespace = strdup(s)))
                return -ENOMEM;

        cluster = find_named(d, root, "clusters", "cluster", k->cluster);
        if (!cluster)
                return kube_error_setf(err, -EINVAL,
                                       "kubeconfig '%s': context '%s' names cluster '%s', which is not defined",
                                       d->path, k->context, k->cluster);
        r = load_cluster(d, cluster, k, err);
        if (r < 0)
                return r;
        if (!k->user)
                return 0;
        user = find_named(d, root, "users", "user", k->user);
        if (!user)
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s': context '%s' names user '%s', which is not defined",
                                       d->path, k->context, k->user);
        return load_user(d, user, k, err);
}

int kube_config_parse(const char *path, const char *text, size_t len, KubeConfig **ret, KubeError *err) {
        _cleanup_(kube_config_freep) KubeConfig *k = NULL;
        yaml_parser_t parser;
        Doc d = { .path = path };
        int r;

        assert(path);
        assert(text || len == 0);
        assert(ret);

        k = calloc(1, sizeof *k);
        if (!k || !(k->path = strdup(path)))
                return -ENOMEM;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
        if (!yaml_parser_load(&parser, &d.doc)) {
                r = kube_error_setf(err, -EINVAL, "kubeconfig '%s':%zu:%zu: %s", path,
                                    parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                                    strna(parser.problem));
                yaml_parser_delete(&parser);
                return r;
        }
        yaml_parser_delete(&parser);

        r = load_document(&d, k, err);
        yaml_document_delete(&d.doc);
        if (r < 0)
                return r;

        log_debug("kubeconfig '%s': context '%s', server '%s'%s%s%s%s", path, k->context, k->server,
                  k->insecure_skip_tls_verify ? " (TLS not verified)" : "", k->tls_server_name ? ", TLS name '" : "",
                  strempty(k->tls_server_name) ? "" : k->tls_server_name, k->tls_server_name ? "'" : "");
        *ret = TAKE_PTR(k);
        return 0;
}

int kube_config_load(const char *path, KubeConfig **ret, KubeError *err) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        assert(path);
        assert(ret);

        r = read_full_file(path, KUBECONFIG_MAX, &text, &len);
        if (r == -ENOENT)
                return kube_error_setf(err, r, "kubeconfig '%s' does not exist", path);
        if (r == -EFBIG)
                return kube_error_setf(err, -EINVAL, "kubeconfig '%s' is larger than %u bytes", path,
                                       KUBECONFIG_MAX);
        if (r < 0)
                return kube_error_setf(err, r, "kubeconfig '%s' cannot be read: %s", path, STRERROR(r));
        r = kube_config_parse(path, text, len, ret, err);
        explicit_bzero(text, len);
        return r;
}

/* ---- locate ---------------------------------------------------------- */

static int return_path(const char *dir, const char *p, char **ret_path) {
        char *s;

        if (dir && p[0] != '/') {
                if (asprintf(&s, "%s/%s", dir, p) < 0)
                        return -ENOMEM;
        } else if (!(s = strdup(p)))
                return -ENOMEM;
        *ret_path = s;
        return 0;
}

/* A credential systemd handed in with LoadCredential=ID:PATH, as a path;
 * NULL when there is none. The unit pairs each with SetCredential=ID:none,
 * which systemd uses when PATH cannot be read (without it, systemd 252
 * fails the start: 243/CREDENTIALS), so that content, or an empty file,
 * means "no kubeconfig there". */
static int credential(const char *id, char **ret) {
        const char *creds = getenv("CREDENTIALS_DIRECTORY");
        _cleanup_free_ char *p = NULL, *text = NULL;
        size_t len = 0;
        int r;

        *ret = NULL;
        if (strempty(creds))
                return 0;
        if (asprintf(&p, "%s/%s", creds, id) < 0)
                return -ENOMEM;
        r = read_full_file(p, KUBECONFIG_MAX, &text, &len);
        if (r == -ENOENT)
                return 0;
        if (r >= 0 && (len == 0 || streq(text, KUBE_CREDENTIAL_NONE) || streq(text, KUBE_CREDENTIAL_NONE "\n"))) {
                explicit_bzero(text, len);
                return 0;
        }
        if (text)
                explicit_bzero(text, len);
        /* Unreadable or too big: returned all the same, loading says why. */
        *ret = TAKE_PTR(p);
        return 0;
}

/* The places nothing configured explicitly, in order: the operator's
 * credential, values.env's KUBECONFIG when this process can read it,
 * k3s's kubeconfig as the unit's credential, the well-known files when
 * readable. *ret_skipped: values_path was looked at and could not be used
 * (missing, or unreadable for this user), unless it is k3s's file and its
 * credential stood in for it. */
static int locate_existing(const char *values_path, const char *const *defaults, char **ret_path,
                           bool *ret_skipped) {
        _cleanup_free_ char *cred = NULL;
        int r;

        *ret_skipped = false;
        if ((r = credential(KUBE_CREDENTIAL, &cred)) < 0)
                return r;
        if (cred) {
                *ret_path = TAKE_PTR(cred);
                return 0;
        }
        if (values_path) {
                if (access(values_path, R_OK) == 0)
                        return return_path(NULL, values_path, ret_path);
                *ret_skipped = true;
        }
        if ((r = credential(KUBE_CREDENTIAL_K3S, &cred)) < 0)
                return r;
        if (cred) {
                if (values_path && streq(values_path, KUBE_K3S_KUBECONFIG))
                        *ret_skipped = false;
                *ret_path = TAKE_PTR(cred);
                return 0;
        }
        for (const char *const *d = defaults; d && *d; d++)
                if (access(*d, R_OK) == 0)
                        return return_path(NULL, *d, ret_path);
        return -ENOENT;
}

int kube_config_locate_in(const char *explicit_path, const char *values_kubeconfig, const char *values_dir,
                          const char *const *defaults, char **ret_path, char **ret_skipped) {
        const char *env = getenv("KUBECONFIG");
        _cleanup_free_ char *values_path = NULL, *path = NULL;
        bool skipped = false;
        int r;

        assert(ret_path);

        if (!strempty(explicit_path))
                r = return_path(NULL, explicit_path, &path);
        else if (!strempty(env)) {
                /* kubectl merges a ':'-separated list; we use its first entry. */
                _cleanup_free_ char *first = strndup(env, strcspn(env, ":"));
                if (!first)
                        return -ENOMEM;
                r = *first ? return_path(NULL, first, &path) : -ENOENT;
        } else
                r = -ENOENT;
        if (r == -ENOENT) {
                if (!strempty(values_kubeconfig) && return_path(values_dir, values_kubeconfig, &values_path) < 0)
                        return -ENOMEM;
                r = locate_existing(values_path, defaults, &path, &skipped);
        }
        if (r < 0)
                return r;
        if (ret_skipped)
                *ret_skipped = skipped ? TAKE_PTR(values_path) : NULL;
        *ret_path = TAKE_PTR(path);
        return 0;
}

/* What one place of the search holds, for the message of a failed one. */
static const char *file_state(const char *path) {
        if (access(path, R_OK) == 0)
                return "readable";
        return errno == ENOENT ? "missing" : "not readable by this user";
}

int kube_config_describe_search(const char *values_kubeconfig, const char *values_dir, char **ret) {
        _cleanup_free_ char *values_path = NULL, *cred = NULL, *k3s = NULL;
        const char *creds = getenv("CREDENTIALS_DIRECTORY");
        StrBuf b = { 0 };
        int r;

        assert(ret);

        if (!strempty(values_kubeconfig) && return_path(values_dir, values_kubeconfig, &values_path) < 0)
                return -ENOMEM;
        if ((r = credential(KUBE_CREDENTIAL, &cred)) < 0 || (r = credential(KUBE_CREDENTIAL_K3S, &k3s)) < 0)
                return r;
        strbuf_puts(&b, "tried ");
        if (!strempty(creds))
                strbuf_printf(&b, "the credential '" KUBE_CREDENTIAL "' (%s), ", cred ? "handed in" : "none");
        if (values_path)
                strbuf_printf(&b, "values.env's KUBECONFIG '%s' (%s), ", values_path, file_state(values_path));
        else
                strbuf_puts(&b, "values.env's KUBECONFIG (not set), ");
        if (!strempty(creds))
                strbuf_printf(&b, "the credential '" KUBE_CREDENTIAL_K3S "' (%s), ", k3s ? "handed in" : "none");
        strbuf_printf(&b, "'" KUBE_K3S_KUBECONFIG "' (%s), '/etc/kubernetes/admin.conf' (%s)",
                      file_state(KUBE_K3S_KUBECONFIG), file_state("/etc/kubernetes/admin.conf"));
        *ret = strbuf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

int kube_config_locate(const char *explicit_path, const char *values_kubeconfig, const char *values_dir,
                       char **ret_path, char **ret_skipped) {
        static const char *const defaults[] = { KUBE_K3S_KUBECONFIG, "/etc/kubernetes/admin.conf", NULL };

        assert(ret_path);

        return kube_config_locate_in(explicit_path, values_kubeconfig, values_dir, defaults, ret_path, ret_skipped);
}
