/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What tests/harness/with-harness.sh gives the kube integration tests, read
 * once: the API server's URL, a token, its CA (file and base64, for
 * kubeconfigs written by the tests), and a scratch directory.
 */
#pragma once

extern const char *api_url, *token, *ca_file;
extern char tmpdir[256], ca_b64[8192];

/* Reads KUBE_API_URL (https://), KUBE_TOKEN, KUBE_CA_FILE and checks that
 * every variable of more (NULL-terminated, may be NULL) is set too; makes
 * tmpdir (/tmp/PROG.XXXXXX) and reads the CA as base64. On failure says so on
 * stderr and returns -1. */
int kube_harness_init(const char *prog, const char *const *more);

/* tmpdir/name, in one of 8 static buffers used in turn. */
const char *tmp_path(const char *name);

/* Removes tmpdir and everything in it; -1 when that fails. */
int kube_harness_done(void);

/* The monotonic clock in seconds: for the deadlines of the tests' waits. */
double now(void);

