/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-value rules of docs/design.md "Keys, defaults and checks"
 * (ranges, URL and name syntax, secret strength), used by config.c. Kept apart so config.c stays about the table
 * and the derivations.
 */
#pragma once

#include "config.h"

typedef enum CheckKind {
        CHECK_NONE,
        CHECK_DNS_LABEL,
        CHECK_NAME_PREFIX,
        CHECK_IMAGE,
        CHECK_IMAGE_TAG,
        CHECK_HOST,
        CHECK_NODE_PORT,
        CHECK_PORT,
        CHECK_URL,
        CHECK_PUBLIC_URL, /* may be empty; a trailing slash is stripped (warning) */
        CHECK_INGRESS_MODE,
        CHECK_PG_NAME,
        CHECK_BOOL,
        CHECK_SECRET,
        CHECK_DOMAIN,
        CHECK_TURN_HOST,
        CHECK_NODE_SELECTOR, /* key1=val1,key2=val2; empty: none */
        CHECK_OBJECT_NAME,   /* a Kubernetes object name (DNS-1123 subdomain); empty: none */
} CheckKind;

/* Checks v against kind, adding diagnostics at v's position. May normalise
 * v->value in place (trailing slash). Never puts a secret value in a message. */
void config_check_value(Config *c, ConfigVar *v, CheckKind kind, DiagList *diags);

/* Syntax checks shared with other stages. */
bool is_ip_address(const char *s);
bool is_http_url(const char *s);

/* Parses a node selector written as install.sh reads it: split on ',', then
 * each pair on its first '=' (a trailing ',' is ignored, as bash's `read -a`
 * does). Returns 0 with *ret_json the JSON object text (NULL when s is
 * empty), or -EINVAL with *ret_problem saying which pair is wrong and why;
 * -ENOMEM. The caller frees both. */
int node_selector_to_json(const char *s, char **ret_json, char **ret_problem);
