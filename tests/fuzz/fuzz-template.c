/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes template_render() with an override file, the one template input an
 * operator writes (/etc/nap/templates.d/): the input replaces the shipped
 * sandbox Deployment template, beside the shipped others, for a
 * configuration with both modules on. No input may crash it, leak, or break
 * its contract: 0 gives objects with a kind, a name and a canonical form;
 * -EINVAL comes with an error diagnostic.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "template.h"

static const char values[] = "NAP_HOST=203.0.113.7\nTURN_HOST=203.0.113.8\n"
                             "SANDBOX_ENABLED=true\nBROWSER_ENABLED=true\nSANDBOX_DOMAIN=\n"
                             "SANDBOX_JWT_SECRET=sandbox-jwt-0123456789abcdef0123456789abcdef\n"
                             "SANDBOX_SERVICE_KEY=service-key-0123456789abcdef0123456789abcdef\n"
                             "BROWSER_JWT_SECRET=browser-jwt-0123456789abcdef0123456789abcdef\n"
                             "TURN_AUTH_SECRET=turn-secret-0123456789abcdef0123456789abcdef\n";

static char odir[] = "/tmp/nap-fuzz-template-XXXXXX";
static char opath[sizeof odir + 32];
static Config *config;

static void cleanup(void) {
        unlink(opath);
        rmdir(odir);
        config_free(config);
}

static void setup(void) {
        DiagList d = { 0 };
        EnvFile *env = NULL;

        CHECK(mkdtemp(odir));
        snprintf(opath, sizeof opath, "%s/sandbox-deployment.json", odir);
        CHECK(envfile_parse("values.env", values, strlen(values), &env, &d) >= 0);
        CHECK(config_new(env, &config, &d) >= 0 && !diag_has_errors(&d));
        diag_list_clear(&d);
        atexit(cleanup);
}

static void write_override(const uint8_t *data, size_t size) {
        int fd = open(opath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        CHECK(fd >= 0);
        CHECK(write(fd, data, size) == (ssize_t) size);
        close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const TemplateDirs dirs = { .dir = NAP_TEST_TEMPLATES, .override_dir = odir };
        DesiredSet *s = NULL;
        DiagList d = { 0 };
        int r;

        if (size > 256 * 1024)
                return 0;
        if (!config)
                setup();
        write_override(data, size);
        r = template_render(config, &dirs, &s, &d);
        unlink(opath); /* a crash leaves an empty directory at most */
        if (r >= 0) {
                CHECK(s && !diag_has_errors(&d));
                for (size_t i = 0; i < s->n_objects; i++) {
                        const DesiredObject *o = &s->objects[i];
                        CHECK(o->kind && o->name && o->api_version && o->body && o->canonical);
                }
                for (size_t i = 0; i < s->n_clients; i++)
                        CHECK(s->clients[i].id && s->clients[i].redirect_uri);
        } else {
                CHECK(!s);
                CHECK(r == -ENOMEM || (r == -EINVAL && diag_has_errors(&d)));
        }
        desired_set_free(s);
        diag_list_clear(&d);
        return 0;
}
