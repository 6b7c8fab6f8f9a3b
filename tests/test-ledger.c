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
        ASSERT_OK(ledger_record_object(l, "v1", "Service", "nap", "nap-sandbox", "sandbox", d, "42", "uid-42",
                                       cJSON_Parse("{\"spec\":{\"type\":\"NodePort\"}}")));
        ASSERT_OK(ledger_record_client(l, "sandbox-service", "sandbox", "Code Sandbox", "http://h:1/cb", d, NULL));
                /* a workload taken over with its pod template as it was */
        ASSERT_OK(ledger_record_object(l, "apps/v1", "Deployment", "nap", "coturn", "turn", d, "43", NULL, NULL));
        ASSERT_OK(ledger_set_adopted_digest(l, "Deployment", "nap", "coturn", "abc123"));
        ASSERT_EQ(ledger_set_adopted_digest(l, "Deployment", "nap", "nothing", "abc123"), -ENOENT);
        /* recording it again (an update) keeps what was recorded at adoption */
        ASSERT_OK(ledger_record_object(l, "apps/v1", "Deployment", "nap", "coturn", "turn", d, "44", NULL, NULL));
        ASSERT_STREQ(ledger_find_object(l, "Deployment", "nap", "coturn")->adopted_digest, "abc123");
        l->generation = 3;
        ASSERT_OK(ledger_set_last_pass(l, true, "applied 1 object"));
        ASSERT_OK(ledger_commit(l));
        ASSERT_EQ(mode_of(json), 0600);

        ASSERT_OK(ledger_open(dir, &l2, NULL));
        ASSERT_EQ(l2->generation, 3);
        ASSERT_EQ(l2->n_objects, 2);
        ASSERT_STREQ(l2->objects[0].resource_version, "42");
        ASSERT_STREQ(l2->objects[0].uid, "uid-42");
        ASSERT_TRUE(l2->objects[0].sealed); /* recorded by the agent, its seal checks out */
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

        /* A corrupt ledger: an error naming the file, never read as
         * empty; left where it is. */
        ASSERT_OK(write_file_atomic(json, "{\"schema\":", 10, 0600, 0));
        ASSERT_EQ(ledger_open_read_only(top, &l2, &warning), -EBADMSG);
        ASSERT_NULL(l2);
        ASSERT_TRUE(warning && strstr(warning, json) && strstr(warning, "corrupt"));
        ASSERT_EQ(access(json, F_OK), 0);
        ASSERT_TRUE(access(key, F_OK) < 0); /* no key written either */
        rm_rf(top);
}

/* An entry of an older ledger (no uid, no seal) still opens: unsealed, so
 * the plan checks it against the configuration (plan_check_ledger); saved
 * again, it stays unsealed until the agent records it. */
TEST(older_entries_open_unsealed) {
        _cleanup_free_ char *top = tmpdir(), *json = path_in(top, "ledger.json");
        _cleanup_(ledger_freep) Ledger *l = NULL;
        Ledger *l2 = NULL;
        const char *text = "{\"schema\":1,\"generation\":4,\"objects\":["
                           "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"namespace\":\"nap\",\"name\":\"coturn\","
                           "\"module\":\"turn\",\"digest\":\"ab\",\"resourceVersion\":\"7\"}],\"clients\":[]}";

        ASSERT_OK(write_file_atomic(json, text, strlen(text), 0600, 0));
        ASSERT_OK(ledger_open(top, &l, NULL));
        ASSERT_EQ(l->generation, 4);
        LedgerObject *e = ledger_find_object(l, "Service", "nap", "coturn");
        ASSERT_TRUE(e && !e->sealed && !e->uid);
        ASSERT_OK(ledger_commit(l));
        ASSERT_OK(ledger_open(top, &l2, NULL));
        ASSERT_TRUE(!ledger_find_object(l2, "Service", "nap", "coturn")->sealed);
        ledger_free(l2);
        /* recorded by the agent: sealed, with the uid its apply got back */
        ASSERT_OK(ledger_record_object(l, "v1", "Service", "nap", "coturn", "turn", "cd", "8", "u-1", NULL));
        ASSERT_OK(ledger_commit(l));
        ASSERT_OK(ledger_open(top, &l2, NULL));
        e = ledger_find_object(l2, "Service", "nap", "coturn");
        ASSERT_TRUE(e->sealed);
        ASSERT_STREQ(e->uid, "u-1");
        ledger_free(l2);
        rm_rf(top);
}

/* Replaces the first occurrence of from in the file with to. */
static void edit_file(const char *path, const char *from, const char *to) {
        _cleanup_free_ char *text = NULL, *out = NULL;
        char *at;

        ASSERT_OK(read_full_file(path, 1 << 20, &text, NULL));
        at = strstr(text, from);
        ASSERT_TRUE(at);
        ASSERT_TRUE(asprintf(&out, "%.*s%s%s", (int) (at - text), text, to, at + strlen(from)) > 0);
        ASSERT_OK(write_file_atomic(path, out, strlen(out), 0600, 0));
}

/* The seal covers the identity: an entry copied and renamed, moved to
 * another namespace, or given another uid is no longer sealed; one added
 * by hand has none. */
TEST(seal_tells_entries_written_by_someone_else) {
        /* (cJSON_Print puts a tab after each colon) */
        static const char *const edits[][2] = {
                { "\"name\":\t\"coturn\"", "\"name\":\t\"important\"" },
                { "\"namespace\":\t\"nap\"", "\"namespace\":\t\"kube-system\"" },
                { "\"uid\":\t\"u-1\"", "\"uid\":\t\"u-2\"" },
                { "\"module\":\t\"turn\"", "\"module\":\t\"sandbox\"" },
        };
        for (size_t i = 0; i < ELEMENTSOF(edits) + 1; i++) {
                _cleanup_free_ char *top = tmpdir(), *json = path_in(top, "ledger.json");
                Ledger *l = NULL;
                cJSON *j = NULL;

                ASSERT_OK(ledger_open(top, &l, NULL));
                ASSERT_OK(ledger_record_object(l, "v1", "Service", "nap", "coturn", "turn", "cd", "8", "u-1", NULL));
                ASSERT_OK(ledger_commit(l));
                ledger_free(l);
                if (i < ELEMENTSOF(edits))
                        edit_file(json, edits[i][0], edits[i][1]);
                else {
                        /* an entry added by hand, next to the sealed one */
                        _cleanup_free_ char *text = NULL;
                        ASSERT_OK(read_full_file(json, 1 << 20, &text, NULL));
                        j = cJSON_Parse(text);
                        cJSON *e = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"namespace\":"
                                               "\"kube-system\",\"name\":\"important\",\"module\":\"sandbox\","
                                               "\"digest\":\"\"}");
                        cJSON_AddItemToArray(cJSON_GetObjectItem(j, "objects"), e);
                        _cleanup_free_ char *out = cJSON_Print(j);
                        cJSON_Delete(j);
                        ASSERT_OK(write_file_atomic(json, out, strlen(out), 0600, 0));
                }
                ASSERT_OK(ledger_open(top, &l, NULL));
                size_t unsealed = 0;
                for (size_t k = 0; k < l->n_objects; k++)
                        unsealed += !l->objects[k].sealed;
                if (unsealed != 1)
                        TEST_FAIL("edit %zu: %zu unsealed entries of %zu", i, unsealed, l->n_objects);
                ledger_free(l);
                rm_rf(top);
        }
}

/* A ledger file someone else could have written is refused, naming it and
 * the fix; a symbolic link or something that is not a file too. */
TEST(files_others_can_write_refused) {
        static const char *const files[] = { "ledger.json", "ledger.key" };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *top = tmpdir(), *path = path_in(top, files[i]), *message = NULL;
                Ledger *l = NULL;

                ASSERT_OK(ledger_open(top, &l, NULL));
                ASSERT_OK(ledger_commit(l));
                ledger_free(l);
                l = NULL;
                ASSERT_EQ(chmod(path, 0620), 0);
                ASSERT_EQ(ledger_open(top, &l, &message), -EPERM);
                ASSERT_TRUE(message && strstr(message, path) && strstr(message, "writable by its group") &&
                            strstr(message, "chmod 0600"));
                free(message);
                message = NULL;
                ASSERT_EQ(chmod(path, 0602), 0);
                ASSERT_EQ(ledger_open_read_only(top, &l, &message), -EPERM); /* readers too */
                ASSERT_TRUE(message && strstr(message, "writable by every user"));
                free(message);
                message = NULL;
                ASSERT_EQ(chmod(path, 0600), 0);

                /* a symbolic link */
                _cleanup_free_ char *real = path_in(top, "real");
                ASSERT_EQ(rename(path, real), 0);
                ASSERT_EQ(symlink(real, path), 0);
                ASSERT_EQ(ledger_open(top, &l, &message), -ELOOP);
                ASSERT_TRUE(message && strstr(message, path) && strstr(message, "symbolic link"));
                ASSERT_NULL(l);
                rm_rf(top);
        }
}

/* As root: a ledger file owned by another user is refused to a writer
 * (whoever owns it could make the agent delete objects), and read by a
 * reader (root reads the service's ledger). */
TEST(owner_checked_for_writers) {
        _cleanup_free_ char *top = tmpdir(), *json = path_in(top, "ledger.json"), *message = NULL;
        Ledger *l = NULL;

        if (geteuid() != 0) {
                printf("# (not root: chown to another user is not possible; the integration tests cover it)\n");
                rm_rf(top);
                return;
        }
        ASSERT_OK(ledger_open(top, &l, NULL));
        ASSERT_OK(ledger_commit(l));
        ledger_free(l);
        l = NULL;
        ASSERT_EQ(chown(json, 65534, 65534), 0);
        ASSERT_EQ(ledger_open(top, &l, &message), -EPERM);
        ASSERT_TRUE(message && strstr(message, json) && strstr(message, "is owned by") &&
                    strstr(message, "chown root"));
        ASSERT_OK(ledger_open_read_only(top, &l, NULL));
        ledger_free(l);
        rm_rf(top);
}

/* A ledger that cannot be read is an error naming the file and the user,
 * for the verbs that only look too: never an empty ledger. */
TEST(unreadable_is_an_error) {
        _cleanup_free_ char *top = tmpdir(), *state = path_in(top, "state"), *json = path_in(state, "ledger.json"),
                            *message = NULL;
        Ledger *l = NULL;
        int r;

        ASSERT_OK(ledger_open(state, &l, NULL));
        ASSERT_OK(ledger_commit(l));
        ledger_free(l);
        l = NULL;
        ASSERT_EQ(chmod(top, 0755), 0); /* the state directory stays 0700, root's */
        /* As another user (root reads everything; it keeps its saved uid to
         * come back); a test run that is not root makes the file
         * unreadable to itself instead. */
        if (geteuid() == 0)
                ASSERT_EQ(seteuid(65534), 0);
        else
                ASSERT_EQ(chmod(json, 0), 0);
        r = ledger_open_read_only(state, &l, &message);
        if (getuid() == 0)
                ASSERT_EQ(seteuid(0), 0);
        ASSERT_EQ(r, -EACCES);
        ASSERT_NULL(l);
        if (!message || !strstr(message, "cannot read") || !strstr(message, "uid ") || !strstr(message, state))
                TEST_FAIL("read-only open as another user: %s", message ? message : "(none)");
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

/* Issue 19, items 4 and 5: a client's database and the URIs it owns, kept
 * across a reopen; a ledger written before them reads as owning its one
 * URI in a database not recorded. */
TEST(client_database_and_owned_uris) {
        _cleanup_free_ char *top = tmpdir();
        _cleanup_(ledger_freep) Ledger *l = NULL;
        Ledger *l2 = NULL;
        char d[LEDGER_DIGEST_HEX];
        LedgerDatabase db = { .host = (char *) "127.0.0.1", .port = (char *) "5433", .name = (char *) "nap2",
                              .system_identifier = (char *) "7716621419560262236" };
        bool added = true;

        ASSERT_OK(ledger_open(top, &l, NULL));
        ledger_hmac(l, "x", 1, d);
        ASSERT_OK(ledger_record_client(l, "sandbox-service", "sandbox", "Code Sandbox", "http://h:1/cb", d, &db));
        LedgerClient *c = ledger_find_client(l, "sandbox-service");
        ASSERT_EQ(c->n_owned_uris, 1);
        ASSERT_STREQ(c->owned_uris[0], "http://h:1/cb");
        /* an intent: the new URI counts as ours before the write; once only */
        ASSERT_OK(ledger_intend_client_uri(l, "sandbox-service", "http://h:2/cb", &added));
        ASSERT_TRUE(added);
        ASSERT_OK(ledger_intend_client_uri(l, "sandbox-service", "http://h:2/cb", &added));
        ASSERT_TRUE(!added);
        ASSERT_OK(ledger_intend_client_uri(l, "no-such-client", "http://h:2/cb", &added));
        ASSERT_TRUE(!added);
        ASSERT_OK(ledger_commit(l));

        ASSERT_OK(ledger_open(top, &l2, NULL));
        c = ledger_find_client(l2, "sandbox-service");
        ASSERT_EQ(c->n_owned_uris, 2);
        ASSERT_STREQ(c->owned_uris[1], "http://h:2/cb");
        ASSERT_STREQ(c->database.host, "127.0.0.1");
        ASSERT_STREQ(c->database.port, "5433");
        ASSERT_STREQ(c->database.name, "nap2");
        ASSERT_STREQ(c->database.system_identifier, "7716621419560262236");
        _cleanup_free_ char *where = ledger_database_describe(&c->database, "?");
        ASSERT_STREQ(where, "\"nap2\" at 127.0.0.1:5433 (system identifier 7716621419560262236)");
        /* recorded again without a database (not known): it stays; the write took the old URIs out */
        ASSERT_OK(ledger_record_client(l2, "sandbox-service", "sandbox", "Code Sandbox", "http://h:2/cb", d, NULL));
        c = ledger_find_client(l2, "sandbox-service");
        ASSERT_EQ(c->n_owned_uris, 1);
        ASSERT_STREQ(c->owned_uris[0], "http://h:2/cb");
        ASSERT_STREQ(c->database.name, "nap2");
        ledger_free(l2);

        /* written before the database was recorded */
        ASSERT_OK(ledger_parse(l, "{\"schema\":1,\"generation\":1,\"clients\":[{\"id\":\"a\",\"module\":\"sandbox\","
                                  "\"redirectUri\":\"http://old/cb\"}]}"));
        c = ledger_find_client(l, "a");
        ASSERT_EQ(c->n_owned_uris, 1);
        ASSERT_STREQ(c->owned_uris[0], "http://old/cb");
        ASSERT_TRUE(!ledger_database_known(&c->database));
        ASSERT_EQ(ledger_parse(l, "{\"schema\":1,\"generation\":1,\"clients\":[{\"id\":\"a\",\"module\":\"s\","
                                  "\"ownedRedirectUris\":[1]}]}"), -EBADMSG);
        ASSERT_EQ(ledger_parse(l, "{\"schema\":1,\"generation\":1,\"clients\":[{\"id\":\"a\",\"module\":\"s\","
                                  "\"database\":{\"port\":5432}}]}"), -EBADMSG);
        rm_rf(top);
}

/* When a target names another database than the one recorded. */
TEST(database_moved) {
        LedgerDatabase rec = { .host = (char *) "10.0.0.1", .port = (char *) "5432", .name = (char *) "nap",
                               .system_identifier = (char *) "1" };
        LedgerDatabase same = { .host = (char *) "10.0.0.1", .port = (char *) "5432", .name = (char *) "nap" };
        LedgerDatabase service = { .port = (char *) "5432", .name = (char *) "nap" }; /* host: not read yet */
        LedgerDatabase other_name = { .port = (char *) "5432", .name = (char *) "nap2" };
        LedgerDatabase other_host = { .host = (char *) "10.0.0.2", .port = (char *) "5432", .name = (char *) "nap" };
        LedgerDatabase other_server = { .host = (char *) "10.0.0.1", .port = (char *) "5432", .name = (char *) "nap",
                                        .system_identifier = (char *) "2" };
        LedgerDatabase none = { 0 };

        ASSERT_TRUE(!ledger_database_moved(&rec, &same));
        ASSERT_TRUE(!ledger_database_moved(&rec, &service));
        ASSERT_TRUE(ledger_database_moved(&rec, &other_name));
        ASSERT_TRUE(ledger_database_moved(&rec, &other_host));
        ASSERT_TRUE(ledger_database_moved(&rec, &other_server));
        ASSERT_TRUE(!ledger_database_moved(&none, &other_host)); /* nothing recorded: nothing to compare */
        ASSERT_TRUE(!ledger_database_moved(&rec, NULL));
        ASSERT_TRUE(!ledger_database_known(&none) && ledger_database_known(&service));

        LedgerDatabase copy = { 0 };
        ASSERT_OK(ledger_database_copy(&copy, &rec));
        ASSERT_TRUE(!ledger_database_moved(&copy, &rec) && copy.host != rec.host);
        _cleanup_free_ char *s = ledger_database_describe(&service, "nap-pg-rw");
        ASSERT_STREQ(s, "\"nap\" at nap-pg-rw:5432");
        ledger_database_clear(&copy);
        ASSERT_TRUE(!ledger_database_known(&copy));
}

TEST_MAIN(T(create_commit_reopen), T(read_only_changes_nothing), T(keys_differ_per_host), T(corrupt_ledger_moved_aside),
          T(newer_schema_refused), T(commit_leaves_no_temp_files), T(duplicate_identities), T(generation_range),
          T(older_entries_open_unsealed), T(seal_tells_entries_written_by_someone_else),
          T(files_others_can_write_refused), T(owner_checked_for_writers), T(unreadable_is_an_error),
          T(client_database_and_owned_uris), T(database_moved))
