/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util/log: under the journal an entry carries its fields (MESSAGE_ID, the
 * object, the pass's context) and no secret, also not in a field; on stderr
 * the line is what it always was. The journal itself is replaced by a
 * writer that keeps the entries (the real journald is tested in the booted
 * container, tests/e2e/run.sh); $JOURNAL_STREAM is matched against the real
 * stderr as systemd sets it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests.h"
#include "util/fs.h"
#include "util/log-messages.h"
#include "util/log.h"
#include "util/redact.h"

/* The entries the fake journal received, each as "KEY=value\n..." */
static char entries[8][2048];
static int n_entries;
static int writer_result;

static int keep_entry(const struct iovec *iov, int n) {
        char *e = entries[n_entries++ % 8];

        e[0] = 0;
        for (int i = 0; i < n; i++) {
                strncat(e, iov[i].iov_base, iov[i].iov_len);
                strcat(e, "\n");
        }
        return writer_result;
}

static void journal_on(void) {
        n_entries = 0;
        writer_result = 0;
        memset(entries, 0, sizeof entries);
        log_set_journal_writer(keep_entry);
        log_set_journal(true);
        log_set_max_level(LOG_INFO);
        log_context_clear();
}

static void journal_off(void) {
        log_set_journal(false);
        log_set_journal_writer(NULL);
        log_set_prefix(false);
        log_context_clear();
        redact_forget_secrets();
}

/* Runs f with stderr into a temp file; returns what it wrote (malloc'ed). */
static char *capture_stderr(void (*f)(void)) {
        char path[] = "/tmp/test-log.XXXXXX", *out = NULL;
        int fd = mkstemp(path), saved = dup(STDERR_FILENO);
        size_t len;

        ASSERT_TRUE(fd >= 0 && saved >= 0);
        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        f();
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        close(fd);
        ASSERT_OK(read_full_file(path, 1 << 16, &out, &len));
        unlink(path);
        return out;
}

static bool has_field(const char *entry, const char *field) {
        size_t n = strlen(field);

        for (const char *p = entry; (p = strstr(p, field)); p++)
                if ((p == entry || p[-1] == '\n') && p[n] == '\n')
                        return true;
        return false;
}

static bool has_key(const char *entry, const char *key) {
        char k[64];

        snprintf(k, sizeof k, "%s=", key);
        return strncmp(entry, k, strlen(k)) == 0 || (snprintf(k, sizeof k, "\n%s=", key), strstr(entry, k));
}

TEST(journal_fields) {
        journal_on();
        ASSERT_OK(log_context_set(LOG_CONTEXT_PASS, "3f9a0c1e5b7d2a64"));
        ASSERT_OK(log_context_setf(LOG_CONTEXT_GENERATION, "%u", 7u));
        ASSERT_OK(log_context_set(LOG_CONTEXT_VALUES, "/etc/nap/values.env"));
        ASSERT_EQ(log_struct(LOG_INFO, 0,
                             LOG_FIELDS(.message_id = NAP_MESSAGE_OBJECT_ADOPTED, .kind = "Deployment",
                                        .namespace = "nap", .name = "nap-browser", .module = "browser",
                                        .workload = "nap-browser"),
                             "adopted '%s'", "nap-browser"),
                  0);
        ASSERT_EQ(n_entries, 1);
        ASSERT_TRUE(has_field(entries[0], "MESSAGE=adopted 'nap-browser'"));
        ASSERT_TRUE(has_field(entries[0], "PRIORITY=6"));
        ASSERT_TRUE(has_field(entries[0], "MESSAGE_ID=" NAP_MESSAGE_OBJECT_ADOPTED));
        ASSERT_TRUE(has_field(entries[0], "NAP_OBJECT=Deployment/nap/nap-browser"));
        ASSERT_TRUE(has_field(entries[0], "NAP_MODULE=browser"));
        ASSERT_TRUE(has_field(entries[0], "NAP_WORKLOAD=nap-browser"));
        ASSERT_TRUE(has_field(entries[0], "NAP_PASS=3f9a0c1e5b7d2a64"));
        ASSERT_TRUE(has_field(entries[0], "NAP_GENERATION=7"));
        ASSERT_TRUE(has_field(entries[0], "NAP_VALUES=/etc/nap/values.env"));
        ASSERT_TRUE(has_key(entries[0], "SYSLOG_IDENTIFIER"));
        ASSERT_TRUE(!has_key(entries[0], "NAP_CLIENT"));
        ASSERT_TRUE(!has_key(entries[0], "ERRNO"));

        /* a cluster-scoped object, an errno, a client; the context cleared */
        log_context_clear();
        ASSERT_EQ(log_struct(LOG_ERR, -EACCES, LOG_FIELDS(.kind = "Namespace", .name = "nap", .client = "sandbox-service"),
                             "denied"),
                  -EACCES);
        ASSERT_TRUE(has_field(entries[1], "NAP_OBJECT=Namespace/nap"));
        ASSERT_TRUE(has_field(entries[1], "NAP_CLIENT=sandbox-service"));
        ASSERT_TRUE(has_field(entries[1], "ERRNO=13"));
        ASSERT_TRUE(has_field(entries[1], "PRIORITY=3"));
        ASSERT_TRUE(!has_key(entries[1], "NAP_PASS") && !has_key(entries[1], "MESSAGE_ID"));

        /* a plain log_info() carries the context too, and no object */
        ASSERT_OK(log_context_set(LOG_CONTEXT_PASS, "p2"));
        log_info("plain %d", 1);
        ASSERT_TRUE(has_field(entries[2], "MESSAGE=plain 1"));
        ASSERT_TRUE(has_field(entries[2], "NAP_PASS=p2"));
        ASSERT_TRUE(!has_key(entries[2], "NAP_OBJECT"));

        /* below the level: nothing sent */
        log_debug("not sent");
        ASSERT_EQ(n_entries, 3);
        journal_off();
}

TEST(journal_no_secret_in_any_field) {
        const char *secret = "s3cret-0123456789abcdef0123456789";
        const char *v[] = { secret };

        journal_on();
        ASSERT_OK(redact_set_secrets(v, 1));
        ASSERT_OK(log_context_set(LOG_CONTEXT_VALUES, "/tmp/s3cret-0123456789abcdef0123456789/values.env"));
        log_struct(LOG_WARNING, 0, LOG_FIELDS(.kind = "Secret", .namespace = "nap", .name = secret, .client = secret),
                   "echo %s", secret);
        ASSERT_EQ(n_entries, 1);
        ASSERT_TRUE(strstr(entries[0], "s3cret") == NULL);
        ASSERT_TRUE(has_field(entries[0], "MESSAGE=echo <redacted>"));
        ASSERT_TRUE(has_field(entries[0], "NAP_OBJECT=Secret/nap/<redacted>"));
        ASSERT_TRUE(has_field(entries[0], "NAP_CLIENT=<redacted>"));
        ASSERT_TRUE(has_field(entries[0], "NAP_VALUES=/tmp/<redacted>/values.env"));
        journal_off();
}

static void log_two_lines(void) {
        log_struct(LOG_NOTICE, 0, LOG_FIELDS(.message_id = NAP_MESSAGE_PASS_APPLIED, .module = "sandbox"), "applied %d",
                   2);
        log_error_errno(-ENOENT, "missing '%s'", "x");
}

TEST(stderr_unchanged) {
        _cleanup_free_ char *plain = NULL, *prefixed = NULL;

        journal_off();
        ASSERT_OK(log_context_set(LOG_CONTEXT_PASS, "p1"));
        plain = capture_stderr(log_two_lines);
        ASSERT_STREQ(plain, "applied 2\nmissing 'x'\n");
        log_set_prefix(true);
        prefixed = capture_stderr(log_two_lines);
        ASSERT_STREQ(prefixed, "<5>applied 2\n<3>missing 'x'\n");
        journal_off();
}

TEST(journal_failure_falls_back_to_stderr) {
        _cleanup_free_ char *out = NULL;

        journal_on();
        writer_result = -ECONNREFUSED;
        log_set_prefix(true);
        out = capture_stderr(log_two_lines);
        ASSERT_STREQ(out, "<5>applied 2\n<3>missing 'x'\n");
        ASSERT_EQ(n_entries, 2);
        journal_off();
}

/* $JOURNAL_STREAM names stderr by device and inode: the journal only when
 * both match the open stderr. */
static bool setup_with_stream(bool same) {
        char path[] = "/tmp/test-log-stream.XXXXXX", value[64];
        int fd = mkstemp(path), saved = dup(STDERR_FILENO);
        struct stat st;
        bool on;

        ASSERT_TRUE(fd >= 0 && saved >= 0 && fstat(fd, &st) >= 0);
        snprintf(value, sizeof value, "%llu:%llu", (unsigned long long) st.st_dev,
                 (unsigned long long) st.st_ino + (same ? 0 : 1));
        setenv("JOURNAL_STREAM", value, 1);
        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        log_setup();
        dup2(saved, STDERR_FILENO);
        close(saved);
        close(fd);
        unlink(path);
        unsetenv("JOURNAL_STREAM");
        on = log_get_journal();
        journal_off();
        return on;
}

TEST(journal_stream_detection) {
        ASSERT_TRUE(setup_with_stream(true));
        ASSERT_TRUE(!setup_with_stream(false));
        setenv("JOURNAL_STREAM", "garbage", 1);
        log_setup();
        unsetenv("JOURNAL_STREAM");
        ASSERT_TRUE(!log_get_journal());
        journal_off();
}

TEST_MAIN(T(journal_fields), T(journal_no_secret_in_any_field), T(stderr_unchanged),
          T(journal_failure_falls_back_to_stderr), T(journal_stream_detection))
