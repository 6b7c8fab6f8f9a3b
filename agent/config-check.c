/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <assert.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config-check.h"
#include "util/strbuf.h"

static bool is_dns_label(const char *s, size_t max) {
        size_t n = strlen(s);

        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || (ch == '-' && i > 0 && i < n - 1);
                if (!ok)
                        return false;
        }
        return true;
}

bool is_ip_address(const char *s) {
        unsigned char buf[16];

        assert(s);

        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool is_hostname(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 253)
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && *p != '-' && *p != '.')
                        return false;
        return s[0] != '-' && s[0] != '.' && s[n - 1] != '-';
}

/* A host as it can stand in a URL: hostname, IPv4, or [IPv6]. */
static bool is_url_host(const char *s, size_t n) {
        char buf[256];

        if (n == 0 || n >= sizeof buf)
                return false;
        memcpy(buf, s, n);
        buf[n] = 0;
        if (buf[0] == '[') {
                if (buf[n - 1] != ']')
                        return false;
                buf[n - 1] = 0;
                unsigned char a[16];
                return inet_pton(AF_INET6, buf + 1, a) == 1;
        }
        return is_hostname(buf);
}

static bool parse_int_range(const char *s, long min, long max, long *ret) {
        char *end;
        long v;

        if (!s || !*s || !isdigit((unsigned char) s[0]))
                return false;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return false;
        *ret = v;
        return true;
}

/* Characters a URL may carry here: RFC 3986 unreserved, reserved and '%'. */
static bool is_url_char(char ch) {
        return isalnum((unsigned char) ch) || strchr("-._~:/?#[]@!$&'()*+,;=%", ch);
}

bool is_http_url(const char *s) {
        const char *host, *end;
        size_t hl;

        assert(s);

        if (strncmp(s, "http://", 7) == 0)
                host = s + 7;
        else if (strncmp(s, "https://", 8) == 0)
                host = s + 8;
        else
                return false;
        for (const char *p = s; *p; p++)
                if (!is_url_char(*p))
                        return false;
        end = host + strcspn(host, "/?#");
        /* host[:port], where host may be [v6] */
        const char *colon = NULL;
        if (host[0] == '[') {
                const char *rb = memchr(host, ']', (size_t) (end - host));
                if (!rb)
                        return false;
                if (rb + 1 < end) {
                        if (rb[1] != ':')
                                return false;
                        colon = rb + 1;
                }
        } else
                colon = memchr(host, ':', (size_t) (end - host));
        hl = (size_t) ((colon ? colon : end) - host);
        if (!is_url_host(host, hl))
                return false;
        if (colon) {
                char port[8];
                size_t pl = (size_t) (end - colon - 1);
                long v;
                if (pl == 0 || pl >= sizeof port)
                        return false;
                memcpy(port, colon + 1, pl);
                port[pl] = 0;
                if (!parse_int_range(port, 1, 65535, &v))
                        return false;
        }
        return true;
}

/* A DNS-1123 subdomain: what Kubernetes accepts as most object names. */
static bool is_dns_subdomain(const char *s, size_t n) {
        if (n == 0 || n > 253)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                bool edge = i == 0 || i == n - 1 || s[i - 1] == '.' || s[i + 1] == '.';
                if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
                        continue;
                if ((ch == '-' || ch == '.') && !edge)
                        continue;
                return false;
        }
        return true;
}

/* The name part of a label key, or a label value (which may also be empty). */
static bool is_label_word(const char *s, size_t n) {
        if (n == 0 || n > 63 || !isalnum((unsigned char) s[0]) || !isalnum((unsigned char) s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("-_.", s[i]))
                        return false;
        return true;
}

/* [prefix/]name, the prefix a DNS subdomain. */
static bool is_label_key(const char *s, size_t n) {
        const char *slash = memchr(s, '/', n);

        if (!slash)
                return is_label_word(s, n);
        return is_dns_subdomain(s, (size_t) (slash - s)) &&
               is_label_word(slash + 1, n - (size_t) (slash - s) - 1);
}

static int selector_problem(char **ret_problem, const char *pair, size_t n, const char *why) {
        return asprintf(ret_problem, "\"%.*s\" %s", (int) n, pair, why) < 0 ? -ENOMEM : -EINVAL;
}

int node_selector_to_json(const char *s, char **ret_json, char **ret_problem) {
        cJSON *map;
        size_t len;
        int r = 0;

        assert(s);
        assert(ret_json);
        assert(ret_problem);

        len = strlen(s);
        if (len == 0) {
                *ret_json = NULL;
                return 0;
        }
        if (!(map = cJSON_CreateObject()))
                return -ENOMEM;
        for (const char *p = s; r == 0 && p < s + len;) {
                size_t n = strcspn(p, ",");
                const char *eq = memchr(p, '=', n);
                char key[320], value[64];

                if (n == 0 && p[n] == ',')
                        r = selector_problem(ret_problem, p, 0, "is an empty pair (two commas)");
                else if (!eq)
                        r = selector_problem(ret_problem, p, n, "has no '=' (write key=value)");
                else if (!is_label_key(p, (size_t) (eq - p)) || (size_t) (eq - p) >= sizeof key)
                        r = selector_problem(ret_problem, p, n, "has no valid label key before '='");
                else if ((size_t) (p + n - eq - 1) >= sizeof value ||
                         (p + n - eq - 1 > 0 && !is_label_word(eq + 1, (size_t) (p + n - eq - 1))))
                        r = selector_problem(ret_problem, p, n, "has no valid label value after '='");
                else {
                        snprintf(key, sizeof key, "%.*s", (int) (eq - p), p);
                        snprintf(value, sizeof value, "%.*s", (int) (p + n - eq - 1), eq + 1);
                        cJSON_DeleteItemFromObjectCaseSensitive(map, key); /* the last one wins, as in kubectl */
                        if (!cJSON_AddStringToObject(map, key, value))
                                r = -ENOMEM;
                }
                p += n + (p[n] == ',');
        }
        if (r == 0 && !(*ret_json = cJSON_PrintUnformatted(map)))
                r = -ENOMEM;
        cJSON_Delete(map);
        return r;
}

/* What is wrong with an image reference (or a registry or an image
 * prefix), or NULL. The value goes into a container's image field and into
 * command lines (kubectl, crictl, install.sh's own): one that starts with
 * '-' reads as an option there (COTURN_IMAGE=--privileged), one with
 * whitespace as two words. */
static const char *image_ref_problem(const char *s, const char **ret_hint) {
        static char what[96];

        *ret_hint = NULL;
        if (!*s)
                return "is not a valid image reference (it is empty)";
        if (s[0] == '-') {
                *ret_hint = "an image reference starts with a registry host or a name, e.g. "
                            "docker.io/coturn/coturn:4.6";
                return "is not a valid image reference: it starts with '-' (it would read as an option)";
        }
        for (const char *p = s; *p; p++) {
                if (isspace((unsigned char) *p) || iscntrl((unsigned char) *p)) {
                        *ret_hint = "an image reference is one word: REGISTRY/NAME[:TAG][@DIGEST]";
                        snprintf(what, sizeof what, "is not a valid image reference: it holds whitespace or a "
                                 "control character (character %zu)", (size_t) (p - s) + 1);
                        return what;
                }
                if (!isalnum((unsigned char) *p) && !strchr("._-/:@", *p))
                        return "is not a valid image reference";
        }
        if (!isalnum((unsigned char) s[0]))
                return "is not a valid image reference: it must start with a letter or a digit";
        return NULL;
}

static bool is_image_tag(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("._-", *p))
                        return false;
        return true;
}

static bool is_pg_name(const char *s) {
        if (!*s || !(isalpha((unsigned char) s[0]) || s[0] == '_'))
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("_-", *p))
                        return false;
        return strlen(s) <= 63;
}

static bool is_placeholder(const char *s) {
        return strncasecmp(s, "change-me", 9) == 0 || strncasecmp(s, "changeme", 8) == 0 ||
               strncasecmp(s, "change_me", 9) == 0;
}

#define ERR(hint, ...) diag_add(diags, DIAG_ERROR, c->path, v->line, v->line ? v->col : 0, hint, __VA_ARGS__)
#define WARN(hint, ...) diag_add(diags, DIAG_WARNING, c->path, v->line, v->line ? v->col : 0, hint, __VA_ARGS__)

/* What a public URL must not carry, or NULL. A public URL is where
 * browsers are sent and, with /api/auth/callback appended, the redirect URI
 * registered for the service, which the control plane matches exactly: a
 * query or a fragment would end up in the middle of it, user information
 * (a password?) in every browser's address bar and in oauth_clients. */
static const char *public_url_problem(const char *s, const char **ret_hint) {
        static char where[80];
        const char *authority = strstr(s, "://");
        size_t alen;

        for (const char *p = s; *p; p++)
                if (isspace((unsigned char) *p) || iscntrl((unsigned char) *p)) {
                        *ret_hint = "remove it; a character that must be there is written percent-encoded (%20)";
                        snprintf(where, sizeof where, "holds whitespace or a control character (character %zu, "
                                 "0x%02x)", (size_t) (p - s) + 1, (unsigned) (unsigned char) *p);
                        return where;
                }
        authority = authority ? authority + 3 : s;
        alen = strcspn(authority, "/?#");
        if (memchr(authority, '@', alen)) {
                *ret_hint = "write it as http(s)://HOST[:PORT][/PATH], without USER@";
                return "carries user information ('USER@' before the host)";
        }
        if (strchr(s, '?')) {
                *ret_hint = "write it without '?...': the redirect URI is this URL + /api/auth/callback";
                return "carries a query ('?...')";
        }
        if (strchr(s, '#')) {
                *ret_hint = "write it without '#...': the redirect URI is this URL + /api/auth/callback";
                return "carries a fragment ('#...')";
        }
        return NULL;
}

static void check_url(Config *c, ConfigVar *v, bool public, DiagList *diags) {
        const char *problem, *hint = NULL;
        size_t n;

        if (public && strempty(v->value))
                return;
        if (public && (problem = public_url_problem(v->value, &hint))) {
                /* The value is not quoted back: user information may be a password. */
                ERR(hint, "%s %s", v->name, problem);
                return;
        }
        n = strlen(v->value);
        if (public && n > 0 && v->value[n - 1] == '/') {
                while (n > 0 && v->value[n - 1] == '/')
                        v->value[--n] = 0;
                WARN("write it without the trailing slash",
                     "%s ends with '/'; using \"%s\" (redirect URIs are matched exactly)", v->name, v->value);
        }
        if (!is_http_url(v->value))
                ERR("write it as http://HOST[:PORT][/PATH] or https://...",
                    "%s=\"%s\" is not an http(s) URL", v->name, v->value);
}

static void check_secret(Config *c, ConfigVar *v, DiagList *diags) {
        if (is_placeholder(v->value))
                ERR("run `nap-agent gen-secrets` to replace placeholders with random values",
                    "%s is still a change-me placeholder", v->name);
        else if (strlen(v->value) < 32)
                WARN("use at least 32 characters, e.g. `nap-agent gen-secrets` or `openssl rand -hex 32`",
                     "%s is short (%zu characters; 32 or more are recommended)", v->name, strlen(v->value));
        else if (strncmp(v->value, "demo-only-", 10) == 0)
                WARN("empty it and run `nap-agent gen-secrets` before real use",
                     "%s is the example file's public demo value", v->name);
}

static void check_number(Config *c, ConfigVar *v, long min, long max, const char *what, DiagList *diags) {
        long n;

        if (!parse_int_range(v->value, min, max, &n))
                ERR(NULL, "%s=\"%s\" is not %s (%ld-%ld)", v->name, v->value, what, min, max);
        /* 030086 would reach the Service as 30086 but stay as written in
         * the service URL and the redirect URI built from it (and YAML 1.1,
         * which install.sh's manifests are read as, takes it for octal). */
        else if (v->value[0] == '0')
                ERR("write it without the leading zero", "%s=\"%s\" is not %s: it has a leading zero", v->name,
                    v->value, what);
}

static void check_image(Config *c, ConfigVar *v, DiagList *diags) {
        const char *hint, *problem = image_ref_problem(v->value, &hint);

        /* Not a secret: quoted back (diagnostics escape control characters). */
        if (problem)
                ERR(hint, "%s=\"%s\" %s", v->name, v->value, problem);
}

static void check_node_selector(Config *c, ConfigVar *v, DiagList *diags) {
        _cleanup_free_ char *json = NULL, *problem = NULL;
        int r = node_selector_to_json(v->value, &json, &problem);

        if (r == -EINVAL)
                ERR("write it as key1=value1,key2=value2 (node labels, no spaces)", "%s: %s", v->name, problem);
        else if (r < 0)
                ERR(NULL, "%s: out of memory", v->name);
}

static void check_dns_label(Config *c, ConfigVar *v, size_t max, DiagList *diags) {
        if (!is_dns_label(v->value, max))
                ERR("use lower-case letters, digits and '-', starting and ending with a letter or digit",
                    "%s=\"%s\" is not a valid DNS-1123 label%s", v->name, v->value,
                    max < 63 ? " of at most 40 characters" : "");
}

static void check_turn_host(Config *c, ConfigVar *v, DiagList *diags) {
        if (is_ip_address(v->value))
                return;
        if (!is_hostname(v->value))
                ERR("set it to an IP address browsers can reach", "TURN_HOST=\"%s\" is not an IP address", v->value);
        else
                WARN("set it to the node's IP address",
                     "TURN_HOST=\"%s\" is a hostname: coturn listens and relays on an IP address, and browsers "
                     "must reach it", v->value);
}

static bool is_host_or_empty(const char *s) {
        return strempty(s) || is_url_host(s, strlen(s));
}

static bool is_domain_or_empty(const char *s) {
        return strempty(s) || is_hostname(s + (strncmp(s, "*.", 2) == 0 ? 2 : 0));
}

static bool is_ingress_mode(const char *s) {
        return streq(s, "nodeport") || streq(s, "external");
}

static bool is_bool(const char *s) {
        return streq(s, "true") || streq(s, "false");
}

/* The checks that are one predicate on the value, and its error. */
static const struct {
        CheckKind kind;
        bool (*valid)(const char *value);
        const char *is_not; /* "%s=\"%s\" is not <is_not>" */
        const char *hint;
} format_checks[] = {
        { CHECK_IMAGE_TAG, is_image_tag, "a valid image tag", NULL },
        { CHECK_HOST, is_host_or_empty, "a valid host", "a hostname, an IPv4 address or an [IPv6] address" },
        { CHECK_INGRESS_MODE, is_ingress_mode, "nodeport or external", "use nodeport or external" },
        { CHECK_PG_NAME, is_pg_name, "a valid PostgreSQL name", NULL },
        { CHECK_BOOL, is_bool, "true or false", "use true or false (lower case)" },
        { CHECK_DOMAIN, is_domain_or_empty, "a valid domain", NULL },
};

void config_check_value(Config *c, ConfigVar *v, CheckKind kind, DiagList *diags) {
        assert(c);
        assert(v);
        assert(diags);

        for (size_t i = 0; i < ELEMENTSOF(format_checks); i++)
                if (format_checks[i].kind == kind) {
                        if (!format_checks[i].valid(v->value))
                                ERR(format_checks[i].hint, "%s=\"%s\" is not %s", v->name, v->value,
                                    format_checks[i].is_not);
                        return;
                }
        switch (kind) {
        case CHECK_DNS_LABEL:
        case CHECK_NAME_PREFIX:
                check_dns_label(c, v, kind == CHECK_NAME_PREFIX ? 40 : 63, diags);
                break;
        case CHECK_IMAGE:
                check_image(c, v, diags);
                break;
        case CHECK_NODE_PORT:
                check_number(c, v, 30000, 32767, "a NodePort", diags);
                break;
        case CHECK_PORT:
                check_number(c, v, 1, 65535, "a port", diags);
                break;
        case CHECK_URL:
        case CHECK_PUBLIC_URL:
                check_url(c, v, kind == CHECK_PUBLIC_URL, diags);
                break;
        case CHECK_SECRET:
                check_secret(c, v, diags);
                break;
        case CHECK_NODE_SELECTOR:
                check_node_selector(c, v, diags);
                break;
        case CHECK_OBJECT_NAME:
                if (!strempty(v->value) && !is_dns_subdomain(v->value, strlen(v->value)))
                        WARN("Kubernetes names are lower-case letters, digits, '-' and '.'",
                             "%s=\"%s\" is not a valid Secret name", v->name, v->value);
                break;
        case CHECK_TURN_HOST:
                check_turn_host(c, v, diags);
                break;
        default: /* CHECK_NONE, and the format checks above */
                break;
        }
}
