/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"
#include "tests.h"
#include "util/fs.h"

static char *tmpdir(void) {
        char t[] = "/tmp/nap-ledger-XXXXXX";
        ASSERT_TRUE(mkdtemp(t));
        return strdup(t);
}

static void rm_rf(const char *dir) {
        _cleanup_free_ char *cmd = NULL;
        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        ASSERT_EQ(system(cmd), 0);
}

static char *path_in(const char *dir, const char *name) {
        char *p;
        ASSERT_TRUE(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

static mode_t mode_of(const char *p) {
        struct stat st;
        ASSERT_EQ(stat(p, &st), 0);
        return st.st_mode & 07777;
}

TEST(create_commit_reopen) {
        _cleanup_free_ char *top = tmpdir(), *dir = path_in(top, "state");
        _cleanup_(ledger_freep) Ledger *l = NULL;
        Ledger *l2 = NULL;
        char d[LEDGER_DIGEST_HEX];

        ASSERT_OK(ledger_open(dir, &l, NULL));
        ASSERT_EQ(mode_of(dir), 0700);
        _cleanup_free_ char *key = path_in(dir, "ledger.key"), *json = path_in(dir, "ledger.json");
        ASSERT_EQ(mode_of(key), 0600);
        ASSERT_EQ(l->n_objects, 0);

        ledger_hmac(l, "x", 1, d);
        ASSERT_OK(ledger_record_object(l, "v1", "Service", "nap", "nap-sandbox", "sandbox", d, "42",
                                       cJSON_Parse("{\"spec\":{\"type\":\"NodePort\"}}")));
        ASSERT_OK(ledger_record_client(l, "sandbox-service", "sandbox", "Code Sandbox", "http://h:1/cb", d));
        /* a workload taken over with its pod template as it was */
        ASSERT_OK(ledger_record_object(l, "apps/v1", "Deployment", "nap", "coturn", "turn", d, "43", NULL));
        ASSERT_OK(ledger_set_adopted_digest(l, "Deployment", "nap", "coturn", "abc123"));
        ASSERT_EQ(ledger_set_adopted_digest(l, "Deployment", "nap", "nothing", "abc123"), -ENOENT);
        /* recording it again (an update) keeps what was recorded at adoption */
        ASSERT_OK(ledger_record_object(l, "apps/v1", "Deployment", "nap", "coturn", "turn", d, "44", NULL));
        ASSERT_STREQ(ledger_find_object(l, "Deployment", "nap", "coturn")->adopted_digest, "abc123");
        l->generation = 3;
        ASSERT_OK(ledger_set_last_pass(l, true, "applied 1 object"));
        ASSERT_OK(ledger_commit(l));
        ASSERT_EQ(mode_of(json), 0600);

        ASSERT_OK(ledger_open(dir, &l2, NULL));
        ASSERT_EQ(l2->generation, 3);
        ASSERT_EQ(l2->n_objects, 2);
        ASSERT_STREQ(l2->objects[0].resource_version, "42");
        ASSERT_STREQ(l2->objects[0].digest, d);
        ASSERT_NULL(l2->objects[0].adopted_digest);
        ASSERT_STREQ(ledger_find_object(l2, "Deployment", "nap", "coturn")->adopted_digest, "abc123");
        ASSERT_OK(ledger_set_adopted_digest(l2, "Deployment", "nap", "coturn", NULL));
        ASSERT_NULL(ledger_find_object(l2, "Deployment", "nap", "coturn")->adopted_digest);
        ledger_forget_object(l2, "Deployment", "nap", "coturn");
        ASSERT_TRUE(ledger_find_object(l2, "Service", "nap", "nap-sandbox"));
        ASSERT_NULL(ledger_find_object(l2, "Service", "other", "nap-sandbox"));
        ASSERT_STREQ(ledger_find_client(l2, "sandbox-service")->redirect_uri, "http://h:1/cb");
        ASSERT_STREQ(l2->last_result, "ok");
        /* the same key: the same digests */
        char d2[LEDGER_DIGEST_HEX];
        ledger_hmac(l2, "x", 1, d2);
        ASSERT_STREQ(d, d2);

        ledger_forget_object(l2, "Service", "nap", "nap-sandbox");
        ledger_forget_client(l2, "sandbox-service");
        ASSERT_EQ(l2->n_objects, 0);
        ASSERT_EQ(l2->n_clients, 0);
        ledger_free(l2);
        rm_rf(top);
}

TEST(keys_differ_per_host) {
        _cleanup_free_ char *a = tmpdir(), *b = tmpdir();
        _cleanup_(ledger_freep) Ledger *la = NULL;
        _cleanup_(ledger_freep) Ledger *lb = NULL;
        char da[LEDGER_DIGEST_HEX], db[LEDGER_DIGEST_HEX];

        ASSERT_OK(ledger_open(a, &la, NULL));
        ASSERT_OK(ledger_open(b, &lb, NULL));
        ledger_hmac(la, "secret", 6, da);
        ledger_hmac(lb, "secret", 6, db);
        ASSERT_TRUE(!streq(da, db));
        rm_rf(a);
        rm_rf(b);
}

TEST(corrupt_ledger_moved_aside) {
        _cleanup_free_ char *dir = tmpdir(), *json = path_in(dir, "ledger.json"), *warning = NULL;
        _cleanup_(ledger_freep) Ledger *l = NULL;

        ASSERT_OK(write_file_atomic(json, "{\"schema\":1,\"generation\":", 25, 0600, 0));
        ASSERT_OK(ledger_open(dir, &l, &warning));
        ASSERT_TRUE(warning && strstr(warning, "moved it to"));
        ASSERT_EQ(l->n_objects, 0);
        ASSERT_TRUE(access(json, F_OK) < 0); /* moved */
        _cleanup_free_ char *cmd = NULL;
        ASSERT_TRUE(asprintf(&cmd, "ls '%s' | grep -q 'ledger.json.corrupt-'", dir) > 0);
        ASSERT_EQ(system(cmd), 0);
        rm_rf(dir);
}

TEST(newer_schema_refused) {
        _cleanup_free_ char *dir = tmpdir(), *json = path_in(dir, "ledger.json");
        Ledger *l = NULL;
        const char *text = "{\"schema\":99,\"generation\":1,\"objects\":[]}";

        ASSERT_OK(write_file_atomic(json, text, strlen(text), 0600, 0));
        ASSERT_EQ(ledger_open(dir, &l, NULL), -EPROTONOSUPPORT);
        ASSERT_NULL(l);
        ASSERT_EQ(access(json, F_OK), 0); /* left alone for the newer agent */
        rm_rf(dir);
}

TEST(commit_leaves_no_temp_files) {
        _cleanup_free_ char *dir = tmpdir();
        _cleanup_(ledger_freep) Ledger *l = NULL;

        ASSERT_OK(ledger_open(dir, &l, NULL));
        for (int i = 0; i < 5; i++)
                ASSERT_OK(ledger_commit(l));
        _cleanup_free_ char *cmd = NULL;
        ASSERT_TRUE(asprintf(&cmd, "test $(ls -A '%s' | wc -l) -eq 2", dir) > 0);
        ASSERT_EQ(system(cmd), 0);
        rm_rf(dir);
}

TEST(read_only_changes_nothing) {
        _cleanup_free_ char *top = tmpdir(), *missing = path_in(top, "none"), *json = path_in(top, "ledger.json"),
                            *key = path_in(top, "ledger.key"), *warning = NULL;
        _cleanup_(ledger_freep) Ledger *l = NULL;
        Ledger *l2 = NULL;

        /* A state directory that does not exist: an empty ledger, nothing created. */
        ASSERT_OK(ledger_open_read_only(missing, &l, NULL));
        ASSERT_EQ(l->n_objects, 0);
        ASSERT_TRUE(access(missing, F_OK) < 0);
        ASSERT_EQ(ledger_commit(l), -EROFS);
        ASSERT_TRUE(access(missing, F_OK) < 0);

        /* A corrupt ledger: treated as empty, said so, left where it is. */
        ASSERT_OK(write_file_atomic(json, "{\"schema\":", 10, 0600, 0));
        ASSERT_OK(ledger_open_read_only(top, &l2, &warning));
        ASSERT_TRUE(l2->unreadable && strstr(l2->unreadable, "unreadable"));
        ASSERT_TRUE(warning && strstr(warning, "treating it as empty"));
        ASSERT_EQ(access(json, F_OK), 0);
        ASSERT_TRUE(access(key, F_OK) < 0); /* no key written either */
        ledger_free(l2);
        rm_rf(top);
}

/* An identity written twice: the later entry replaces the first, and its
 * appliedAt (and pending) go to that entry, not to whichever is last. */
TEST(duplicate_identities) {
        _cleanup_free_ char *top = tmpdir();
        _cleanup_(ledger_freep) Ledger *l = NULL;
        const char *text =
                "{\"schema\":1,\"generation\":2,\"objects\":["
                "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"namespace\":\"nap\",\"name\":\"x\",\"module\":\"sandbox\","
                "\"appliedAt\":\"2026-01-01T00:00:00Z\",\"pending\":\"apply\",\"adoptedSecretDigest\":\"1\"},"
                "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"namespace\":\"nap\",\"name\":\"y\",\"module\":\"sandbox\","
                "\"appliedAt\":\"2026-02-02T00:00:00Z\"},"
                "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"namespace\":\"nap\",\"name\":\"x\",\"module\":\"sandbox\","
                "\"appliedAt\":\"2026-03-03T00:00:00Z\"}],"
                "\"clients\":[{\"id\":\"a\",\"module\":\"sandbox\",\"appliedAt\":\"2026-01-01T00:00:00Z\"},"
                "{\"id\":\"b\",\"module\":\"browser\",\"appliedAt\":\"2026-02-02T00:00:00Z\"},"
                "{\"id\":\"a\",\"module\":\"sandbox\",\"appliedAt\":\"2026-03-03T00:00:00Z\",\"kept\":true}]}";

        ASSERT_OK(ledger_open(top, &l, NULL));
        ASSERT_OK(ledger_parse(l, text));
        ASSERT_EQ(l->n_objects, 2);
        ASSERT_STREQ(ledger_find_object(l, "Secret", "nap", "x")->applied_at, "2026-03-03T00:00:00Z");
        ASSERT_NULL(ledger_find_object(l, "Secret", "nap", "x")->pending);
        ASSERT_NULL(ledger_find_object(l, "Secret", "nap", "x")->adopted_digest);
        ASSERT_STREQ(ledger_find_object(l, "Service", "nap", "y")->applied_at, "2026-02-02T00:00:00Z");
        ASSERT_EQ(l->n_clients, 2);
        ASSERT_STREQ(ledger_find_client(l, "a")->applied_at, "2026-03-03T00:00:00Z");
        ASSERT_TRUE(ledger_find_client(l, "a")->kept);
        ASSERT_STREQ(ledger_find_client(l, "b")->applied_at, "2026-02-02T00:00:00Z");
        ASSERT_TRUE(!ledger_find_client(l, "b")->kept);
        rm_rf(top);
}

/* Numbers are doubles in JSON: a generation that is not an integer a
 * double holds exactly (up to 2^53) is refused, not cast (2^64 and 1e300
 * were undefined behaviour, and read as 0). */
TEST(generation_range) {
        static const char *const bad[] = { "1e300", "18446744073709551616", "9007199254740994.0e0", "-1", "1.5",
                                           "\"3\"", "null" };
        _cleanup_free_ char *top = tmpdir();
        _cleanup_(ledger_freep) Ledger *l = NULL;
        char text[128];

        ASSERT_OK(ledger_open(top, &l, NULL));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                snprintf(text, sizeof text, "{\"schema\":1,\"generation\":%s}", bad[i]);
                if (ledger_parse(l, text) != -EBADMSG)
                        TEST_FAIL("generation %s was accepted (%llu)", bad[i], (unsigned long long) l->generation);
        }
        ASSERT_OK(ledger_parse(l, "{\"schema\":1,\"generation\":9007199254740992}"));
        ASSERT_EQ(l->generation, 9007199254740992ULL);
        rm_rf(top);
}

TEST_MAIN(T(create_commit_reopen), T(read_only_changes_nothing), T(keys_differ_per_host), T(corrupt_ledger_moved_aside), T(newer_schema_refused),
          T(commit_leaves_no_temp_files), T(duplicate_identities), T(generation_range))
