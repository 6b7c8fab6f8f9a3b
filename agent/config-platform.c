/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The keys of values.env that only the platform's own install.sh applies:
 * they set the platform's objects (nap-cp, its Service and Secret, the
 * PostgreSQL cluster, env-runner, AFS, the office converter), which the
 * agent never writes beyond nap-cp's three URLs. An edit of one of them is
 * accepted by the agent and changes nothing there until install.sh runs
 * (`install.sh --manifests-only`), so the plan and the pass say so, once
 * per edit (plan-platform.c keeps a keyed digest of each value in the
 * ledger). The list is read off install.sh's render: the variables its
 * manifests use that `--manifests-only` applies (not the prerequisites'
 * NFS server and helm chart, not the seed Jobs' admin account, not the
 * single-node offline registry). Each value is resolved as install.sh
 * resolves it, so an edit install.sh would not see (an empty value for
 * the default, an LDAP field while LDAP is off) is no edit here either.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

typedef enum PlatformRule {
        RULE_PLAIN,         /* ${KEY:-def} (def may start with one ${VAR}) */
        RULE_LDAP,          /* emptied unless LDAP_ENABLED=true */
        RULE_SYNC_REPLICAS, /* ${PG_SYNC_REPLICAS:-0} with PG_INSTANCES=1, else :-1 */
} PlatformRule;

typedef struct PlatformKey {
        const char *name;
        const char *def;
        PlatformRule rule;
        bool modules_too; /* the agent applies it to the modules' objects as well */
} PlatformKey;

static const PlatformKey platform_keys[] = {
        /* images of the platform's own workloads */
        { "REGISTRY",                  NULL,                               RULE_PLAIN,  true },
        { "IMAGE_TAG",                 NULL,                               RULE_PLAIN,  true },
        { "PLATFORM_IMAGE_PREFIX",     NULL,                               RULE_PLAIN,  true },
        { "AGENT_IMAGE_PREFIX",        "${PLATFORM_IMAGE_PREFIX}-agent",   RULE_PLAIN,  false },
        { "AGENT_IMAGE_TAG",           NULL,                               RULE_PLAIN,  false },
        { "POSTGRES_IMAGE",            "ghcr.io/cloudnative-pg/postgresql:16", RULE_PLAIN, false },
        { "GOTENBERG_IMAGE",           "docker.io/gotenberg/gotenberg:8",  RULE_PLAIN,  false },
        { "AFS_IMAGE",                 "ghcr.io/neutree-ai/afs:latest",    RULE_PLAIN,  false },
        { "IMAGE_PULL_SECRET",         NULL,                               RULE_PLAIN,  true },
        /* how users reach the control plane */
        { "INGRESS_MODE",              NULL,                               RULE_PLAIN,  true },
        { "NAP_NODE_PORT",             NULL,                               RULE_PLAIN,  false },
        { "FILES_PUBLIC_URL",          "${WEB_PUBLIC_URL}",                RULE_PLAIN,  false },
        /* the database */
        { "PG_USERNAME",               NULL,                               RULE_PLAIN,  true },
        { "PG_PASSWORD",               NULL,                               RULE_PLAIN,  false },
        { "DB_NAME",                   NULL,                               RULE_PLAIN,  true },
        { "PG_INSTANCES",              NULL,                               RULE_PLAIN,  false },
        { "PG_SYNC_REPLICAS",          NULL,                               RULE_SYNC_REPLICAS, false },
        { "PG_STORAGE_SIZE",           NULL,                               RULE_PLAIN,  false },
        { "PG_STORAGE_CLASS",          NULL,                               RULE_PLAIN,  false },
        /* the control plane's secrets and login */
        { "JWT_SECRET",                NULL,                               RULE_PLAIN,  false },
        { "CREDENTIAL_ENCRYPTION_KEY", NULL,                               RULE_PLAIN,  false },
        { "PLATFORM_SERVICE_KEY",      NULL,                               RULE_PLAIN,  false },
        { "LDAP_ENABLED",              NULL,                               RULE_PLAIN,  false },
        { "LDAP_URL",                  NULL,                               RULE_LDAP,   false },
        { "LDAP_BIND_DN",              NULL,                               RULE_LDAP,   false },
        { "LDAP_BIND_PASSWORD",        NULL,                               RULE_LDAP,   false },
        { "LDAP_SEARCH_BASE",          NULL,                               RULE_LDAP,   false },
        { "LDAP_SEARCH_FILTER",        NULL,                               RULE_LDAP,   false },
        { "LDAP_ATTR_USERNAME",        NULL,                               RULE_LDAP,   false },
        { "LDAP_ATTR_NAME",            NULL,                               RULE_LDAP,   false },
        { "LDAP_ATTR_EMAIL",           NULL,                               RULE_LDAP,   false },
        /* the workspaces and their storage */
        { "AGENT_STORAGE_CLASS",       "nfs-csi",                          RULE_PLAIN,  false },
        { "AGENT_NODE_SELECTOR",       NULL,                               RULE_PLAIN,  false },
        { "AFS_STORAGE_SIZE",          "500Gi",                            RULE_PLAIN,  false },
        { "NFS_STORAGE_CLASS",         NULL,                               RULE_PLAIN,  false },
};

size_t config_platform_key_count(void) {
        return ELEMENTSOF(platform_keys);
}

const char *config_platform_key_name(size_t i) {
        assert(i < ELEMENTSOF(platform_keys));

        return platform_keys[i].name;
}

bool config_platform_key_modules_too(size_t i) {
        assert(i < ELEMENTSOF(platform_keys));

        return platform_keys[i].modules_too;
}

/* def, with a leading ${VAR} replaced by that variable's value. */
static char *expand(const Config *c, const char *def) {
        const char *end;
        char name[64], *s;

        if (strncmp(def, "${", 2) != 0 || !(end = strchr(def, '}')) || (size_t) (end - def - 2) >= sizeof name)
                return strdup(def);
        memcpy(name, def + 2, (size_t) (end - def - 2));
        name[end - def - 2] = 0;
        const char *v = config_get(c, name);
        return asprintf(&s, "%s%s", strempty(v) ? "" : v, end + 1) < 0 ? NULL : s;
}

int config_platform_key_value(const Config *c, size_t i, char **ret) {
        const PlatformKey *k;
        const char *v;
        char *s;

        assert(c);
        assert(i < ELEMENTSOF(platform_keys));
        assert(ret);

        k = &platform_keys[i];
        v = config_get(c, k->name);
        if (k->rule == RULE_LDAP && !streq(strempty(config_get(c, "LDAP_ENABLED")) ? "" : config_get(c, "LDAP_ENABLED"),
                                            "true"))
                v = "";
        if (!strempty(v))
                s = strdup(v);
        else if (k->rule == RULE_SYNC_REPLICAS) {
                const char *n = config_get(c, "PG_INSTANCES");
                s = strdup(!strempty(n) && streq(n, "1") ? "0" : "1");
        } else
                s = k->def ? expand(c, k->def) : strdup("");
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}
