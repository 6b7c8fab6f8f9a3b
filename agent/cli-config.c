/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The offline verbs: check, vars and render. They run the pure stages only
 * (envfile, config, template) and need no server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli-verbs.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/yaml-out.h"

static void print_diags(const DiagList *d) {
        for (size_t i = 0; i < d->n; i++)
                diag_print(&d->items[i], stderr);
}

/* Loads as far as it can: *ret is set whenever the file parsed. */
static int load(const CliArgs *a, Config **ret, DiagList *diags) {
        int r = config_load(a->values, ret, diags);

        if (r == -ENOENT)
                return log_error_errno(r, "%s: cannot read values file: %s", a->values, STRERROR(r));
        if (r < 0 && r != -EINVAL)
                return log_error_errno(r, "%s: cannot load values file: %s", a->values, STRERROR(r));
        return r;
}

int cli_load_config(const CliArgs *a, Config **ret) {
        _cleanup_(diag_list_clear) DiagList diags = { 0 };
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        r = load(a, &c, &diags);
        print_diags(&diags);
        if (r < 0)
                return r;
        if (diag_has_errors(&diags))
                return -EINVAL;
        *ret = TAKE_PTR(c);
        return 0;
}

static const char *toggle_word(const Config *c, Module m) {
        switch (config_module_toggle(c, m)) {
        case TOGGLE_ON:
                return "on";
        case TOGGLE_OFF:
                return "off";
        case TOGGLE_ABSENT:
                break;
        }
        return "off (not set)";
}

int cli_check(CliArgs *a) {
        _cleanup_(diag_list_clear) DiagList diags = { 0 };
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(desired_set_freep) DesiredSet *s = NULL;
        int r;

        r = load(a, &c, &diags);
        /* The templates are part of what `check` vouches for, like nginx -t
         * reading every included file. */
        if (r >= 0 && !diag_has_errors(&diags))
                (void) template_render(c, &a->templates, &s, &diags);
        print_diags(&diags);
        if (r < 0 || diag_has_errors(&diags)) {
                fprintf(stderr, "%s: configuration is invalid: %zu error(s), nothing would be applied\n", a->values,
                        diag_count(&diags, DIAG_ERROR) + (r < 0 && r != -EINVAL));
                return CLI_EXIT_FAILURE;
        }
        fprintf(stderr, "%s: configuration is valid: sandbox %s, browser %s; %zu object(s), %zu oauth client(s)",
                a->values, toggle_word(c, MODULE_SANDBOX), toggle_word(c, MODULE_BROWSER), s->n_objects,
                s->n_clients);
        if (diag_count(&diags, DIAG_WARNING) > 0)
                fprintf(stderr, "; %zu warning(s)", diag_count(&diags, DIAG_WARNING));
        fputc('\n', stderr);
        return CLI_EXIT_OK;
}

static const char *shown_value(const CliArgs *a, const char *name, const char *value, bool secret) {
        if (!value)
                return NULL;
        if (secret && *value && !a->show_secrets)
                return "<redacted>";
        return value;
}

static const char *origin_word(VarOrigin o) {
        return var_origin_to_string(o);
}

static int vars_json(const CliArgs *a, const Config *c) {
        cJSON *root = cJSON_CreateObject(), *file = cJSON_AddObjectToObject(root, "file"),
              *conf = cJSON_AddObjectToObject(root, "config");
        char *out;

        if (!root || !file || !conf) {
                cJSON_Delete(root);
                return log_error_errno(ENOMEM, "Out of memory");
        }
        for (size_t i = 0; i < c->env->n_entries; i++) {
                const EnvEntry *e = envfile_get(c->env, c->env->entries[i].key);
                if (cJSON_HasObjectItem(file, e->key))
                        continue;
                cJSON_AddStringToObject(file, e->key, shown_value(a, e->key, e->value, config_key_is_secret(e->key)));
        }
        for (size_t i = 0; i < c->n_vars; i++) {
                const ConfigVar *v = &c->vars[i];
                const char *val = shown_value(a, v->name, v->value, v->secret);
                if (val)
                        cJSON_AddStringToObject(conf, v->name, val);
                else
                        cJSON_AddNullToObject(conf, v->name);
        }
        out = cJSON_Print(root);
        cJSON_Delete(root);
        if (!out)
                return log_error_errno(ENOMEM, "Out of memory");
        puts(out);
        free(out);
        return 0;
}

int cli_vars(CliArgs *a) {
        _cleanup_(diag_list_clear) DiagList diags = { 0 };
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        r = load(a, &c, &diags);
        print_diags(&diags);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        if (a->json)
                r = vars_json(a, c);
        else
                for (size_t i = 0; i < c->n_vars; i++) {
                        const ConfigVar *v = &c->vars[i];
                        const char *val = shown_value(a, v->name, v->value, v->secret);
                        printf("%s=%s  # %s%s\n", v->name, val ? val : "", origin_word(v->origin),
                               val ? "" : ", absent");
                }
        return r < 0 || diag_has_errors(&diags) ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static cJSON *object_for_output(const CliArgs *a, const DesiredObject *o, const Config *c) {
        return a->show_secrets ? cJSON_Duplicate(o->body, true) : desired_object_redacted(o, c);
}

static void write_object(FILE *f, const CliArgs *a, const cJSON *j) {
        if (streq(a->format, "yaml")) {
                yaml_write(f, j);
                return;
        }
        char *s = cJSON_Print(j);
        if (s)
                fprintf(f, "%s\n", s);
        free(s);
}

static cJSON *clients_json(const DesiredSet *s) {
        cJSON *arr = cJSON_CreateArray();

        for (size_t i = 0; arr && i < s->n_clients; i++) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "id", s->clients[i].id);
                cJSON_AddStringToObject(o, "name", s->clients[i].name);
                cJSON_AddStringToObject(o, "module", module_to_string(s->clients[i].module));
                cJSON *uris = cJSON_AddArrayToObject(o, "redirect_uris");
                cJSON_AddItemToArray(uris, cJSON_CreateString(s->clients[i].redirect_uri));
                cJSON_AddItemToArray(arr, o);
        }
        return arr;
}

static int render_to_dir(const CliArgs *a, const Config *c, const DesiredSet *s) {
        _cleanup_free_ char *cdir = NULL;
        int r;

        if ((r = mkdir_p(a->output, 0755)) < 0)
                return log_error_errno(r, "Failed to create '%s': %s", a->output, STRERROR(r));
        for (size_t i = 0; i < s->n_objects; i++) {
                const DesiredObject *o = &s->objects[i];
                _cleanup_free_ char *path = NULL;
                _cleanup_fclose_ FILE *f = NULL;
                if (asprintf(&path, "%s/%02zu-%s-%s.%s", a->output, i, o->kind, o->name, a->format) < 0)
                        return log_error_errno(ENOMEM, "Out of memory");
                f = fopen(path, "we");
                if (!f)
                        return log_error_errno(errno, "Failed to write '%s': %s", path, STRERROR(errno));
                cJSON *j = object_for_output(a, o, c);
                write_object(f, a, j);
                cJSON_Delete(j);
        }
        /* A subdirectory, so `kubectl apply -f DIR` reads only the objects. */
        if (asprintf(&cdir, "%s/oauth-clients", a->output) < 0)
                return log_error_errno(ENOMEM, "Out of memory");
        if ((r = mkdir_p(cdir, 0755)) < 0)
                return log_error_errno(r, "Failed to create '%s': %s", cdir, STRERROR(r));
        _cleanup_free_ char *cpath = NULL;
        if (asprintf(&cpath, "%s/clients.json", cdir) < 0)
                return log_error_errno(ENOMEM, "Out of memory");
        cJSON *cl = clients_json(s);
        _cleanup_free_ char *text = cJSON_Print(cl);
        cJSON_Delete(cl);
        if (!text || (r = write_file_atomic(cpath, text, strlen(text), 0644, 0)) < 0)
                return log_error_errno(text ? r : ENOMEM, "Failed to write '%s': %s", cpath, STRERROR(text ? r : ENOMEM));
        fprintf(stderr, "wrote %zu object(s) and %zu oauth client(s) to '%s'\n", s->n_objects, s->n_clients, a->output);
        return 0;
}

static void render_to_stdout(const CliArgs *a, const Config *c, const DesiredSet *s) {
        if (streq(a->format, "json")) {
                cJSON *list = cJSON_CreateObject(), *items;
                cJSON_AddStringToObject(list, "apiVersion", "v1");
                cJSON_AddStringToObject(list, "kind", "List");
                items = cJSON_AddArrayToObject(list, "items");
                for (size_t i = 0; i < s->n_objects; i++)
                        cJSON_AddItemToArray(items, object_for_output(a, &s->objects[i], c));
                cJSON_AddItemToObject(list, "oauthClients", clients_json(s));
                write_object(stdout, a, list);
                cJSON_Delete(list);
                return;
        }
        for (size_t i = 0; i < s->n_objects; i++) {
                cJSON *j = object_for_output(a, &s->objects[i], c);
                printf("---\n# %s (module %s)\n", s->objects[i].source, module_to_string(s->objects[i].module));
                write_object(stdout, a, j);
                cJSON_Delete(j);
        }
        printf("---\n# oauth_clients rows (applied with `nap-agent seed`, not by kubectl):\n");
        for (size_t i = 0; i < s->n_clients; i++)
                printf("#   %s \"%s\" redirect_uris={%s}\n", s->clients[i].id, s->clients[i].name,
                       s->clients[i].redirect_uri);
}

int cli_render(CliArgs *a) {
        _cleanup_(diag_list_clear) DiagList diags = { 0 };
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(desired_set_freep) DesiredSet *s = NULL;
        int r;

        if (cli_load_config(a, &c) < 0)
                return CLI_EXIT_FAILURE;
        r = template_render(c, &a->templates, &s, &diags);
        print_diags(&diags);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        if (a->output)
                return render_to_dir(a, c, s) < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
        render_to_stdout(a, c, s);
        return CLI_EXIT_OK;
}
