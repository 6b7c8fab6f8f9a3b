/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The offline verbs: check, vars and render. They run the pure stages only
 * (envfile, config, template) and need no server. What they print from the
 * file (values, in `vars`) is escaped C-style: a value may hold control
 * characters meant for a terminal.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli-internal.h"
#include "util/escape.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/yaml-out.h"

static void print_diags(const DiagList *d) {
        diag_list_print(d, stderr);
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

/* load(), its diagnostics printed; *ret_invalid: one of them is an error. */
static int load_reported(const CliArgs *a, Config **ret, bool *ret_invalid) {
        _cleanup_(diag_list_clear) DiagList diags = { 0 };
        int r = load(a, ret, &diags);

        print_diags(&diags);
        *ret_invalid = diag_has_errors(&diags);
        return r;
}

/* Loads values.env and builds the configuration, printing every diagnostic
 * to stderr. Returns 0 with *ret set when there are no errors; else
 * negative (the diagnostics said why). */
static int cli_load_config(const CliArgs *a, Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;
        bool invalid;
        int r = load_reported(a, &c, &invalid);

        if (r < 0 || invalid)
                return r < 0 ? r : -EINVAL;
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

        assert(a);

        cli_say_values(a);
        r = load(a, &c, &diags);
        /* The templates are part of what `check` vouches for, like nginx -t
         * reading every included file. */
        if (r >= 0 && !diag_has_errors(&diags)) {
                r = template_render(c, &a->templates, &s, &diags);
                if (r < 0 && r != -EINVAL)
                        log_error_errno(r, "%s: cannot render the templates: %s", a->values, STRERROR(r));
        }
        print_diags(&diags);
        if (r < 0 || diag_has_errors(&diags)) {
                fprintf(stderr, "%s: configuration is invalid: %zu error(s), nothing would be applied\n", a->values,
                        diag_count(&diags, DIAG_ERROR) + (r < 0 && r != -EINVAL));
                return CLI_EXIT_FAILURE;
        }
        size_t n = 0; /* the modules' objects; not the partial one set on the platform's nap-cp */
        for (size_t i = 0; i < s->n_objects; i++)
                n += !s->objects[i].partial;
        fprintf(stderr, "%s: configuration is valid: sandbox %s, browser %s; %zu object(s), %zu oauth client(s)",
                a->values, toggle_word(c, MODULE_SANDBOX), toggle_word(c, MODULE_BROWSER), n, s->n_clients);
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
        _cleanup_(strindex_freep) StrIndex *seen = NULL;
        cJSON *root = cJSON_CreateObject(), *file = cJSON_AddObjectToObject(root, "file"),
              *conf = cJSON_AddObjectToObject(root, "config");
        bool ok = root && file && conf && strindex_new(&seen) >= 0;
        char *out;

        /* Each key once, where it was first assigned, with its last value. */
        for (size_t i = 0; ok && i < c->env->n_entries; i++) {
                const EnvEntry *e = envfile_get(c->env, c->env->entries[i].key);
                size_t old;
                ok = strindex_put(seen, e->key, i, &old) >= 0;
                if (!ok || old != STRINDEX_NONE)
                        continue;
                ok = cJSON_AddStringToObject(file, e->key,
                                             shown_value(a, e->key, e->value, config_key_is_secret(e->key))) != NULL;
        }
        for (size_t i = 0; ok && i < c->n_vars; i++) {
                const ConfigVar *v = &c->vars[i];
                const char *val = shown_value(a, v->name, v->value, v->secret);
                ok = val ? cJSON_AddStringToObject(conf, v->name, val) != NULL
                         : cJSON_AddNullToObject(conf, v->name) != NULL;
        }
        out = ok ? cJSON_Print(root) : NULL;
        cJSON_Delete(root);
        if (!out)
                return log_error_errno(ENOMEM, "Out of memory");
        puts(out);
        explicit_bzero(out, strlen(out));
        free(out);
        return 0;
}

int cli_vars(CliArgs *a) {
        _cleanup_(config_freep) Config *c = NULL;
        bool invalid;
        int r;

        assert(a);

        r = load_reported(a, &c, &invalid);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        if (a->json)
                r = vars_json(a, c);
        else
                for (size_t i = 0; i < c->n_vars; i++) {
                        const ConfigVar *v = &c->vars[i];
                        const char *val = shown_value(a, v->name, v->value, v->secret);
                        printf("%s=", v->name);
                        fputs_escaped(val ? val : "", stdout);
                        printf("  # %s%s\n", origin_word(v->origin), val ? "" : ", absent");
                }
        if (fflush(stdout) != 0 || ferror(stdout))
                r = log_error_errno(EIO, "Failed to write to standard output");
        return r < 0 || invalid ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static cJSON *object_for_output(const CliArgs *a, const DesiredObject *o, const Config *c) {
        return a->show_secrets ? cJSON_Duplicate(o->body, true) : desired_object_redacted(o, c);
}

static void free_text(char *s, size_t len) {
        if (s)
                explicit_bzero(s, len);
        free(s);
}

/* j as text in the chosen format, with a final newline; NULL when j is NULL
 * or on OOM. The caller wipes it (free_text): it may hold secrets. */
static char *format_json(const CliArgs *a, const cJSON *j, size_t *ret_len) {
        char *buf = NULL, *s = NULL;
        size_t len = 0;
        FILE *f;
        bool ok;

        if (!j)
                return NULL;
        f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        if (streq(a->format, "yaml"))
                yaml_write(f, j);
        else if ((s = cJSON_Print(j))) {
                fprintf(f, "%s\n", s);
                free_text(s, strlen(s));
        }
        ok = (streq(a->format, "yaml") || s) && !ferror(f);
        if (fclose(f) != 0 || !ok) {
                free_text(buf, len);
                return NULL;
        }
        *ret_len = len;
        return buf;
}

/* Writes j to f; -ENOMEM or -EIO when it could not. */
static int write_object(FILE *f, const CliArgs *a, const cJSON *j) {
        size_t len = 0;
        char *s = format_json(a, j, &len);
        int r = 0;

        if (!s)
                return -ENOMEM;
        if (fwrite(s, 1, len, f) != len)
                r = -EIO;
        free_text(s, len);
        return r;
}

static cJSON *client_json(const DesiredClient *dc) {
        cJSON *o = cJSON_CreateObject(), *uris;

        if (!cJSON_AddStringToObject(o, "id", dc->id) || !cJSON_AddStringToObject(o, "name", dc->name) ||
            !cJSON_AddStringToObject(o, "module", module_to_string(dc->module)) ||
            !(uris = cJSON_AddArrayToObject(o, "redirect_uris")) ||
            !cJSON_AddItemToArray(uris, cJSON_CreateString(dc->redirect_uri))) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}

static cJSON *clients_json(const DesiredSet *s) {
        cJSON *arr = cJSON_CreateArray();

        for (size_t i = 0; arr && i < s->n_clients; i++) {
                cJSON *o = client_json(&s->clients[i]);
                if (!o || !cJSON_AddItemToArray(arr, o)) {
                        cJSON_Delete(o);
                        cJSON_Delete(arr);
                        return NULL;
                }
        }
        return arr;
}

/* Replaces path with j's text, mode 0600 when it may hold secrets. */
static int write_output_file(const CliArgs *a, const char *path, cJSON *j) {
        size_t len = 0;
        char *text = format_json(a, j, &len);
        int r;

        cJSON_Delete(j);
        if (!text)
                return log_error_errno(ENOMEM, "Failed to write '%s': %s", path, STRERROR(ENOMEM));
        r = write_file_atomic(path, text, len, a->show_secrets ? 0600 : 0644, 0);
        free_text(text, len);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %s", path, STRERROR(r));
        return 0;
}

static int render_to_dir(const CliArgs *a, const Config *c, const DesiredSet *s) {
        _cleanup_free_ char *cdir = NULL, *cpath = NULL;
        mode_t dmode = a->show_secrets ? 0700 : 0755;
        int r;

        if ((r = mkdir_p(a->output, dmode)) < 0)
                return log_error_errno(r, "Failed to create '%s': %s", a->output, STRERROR(r));
        for (size_t i = 0; i < s->n_objects; i++) {
                const DesiredObject *o = &s->objects[i];
                _cleanup_free_ char *path = NULL, *pdir = NULL;
                /* A partial object (nap-cp's public URLs) is no object to
                 * create, and a create-only one (the registry login) must
                 * not overwrite one that exists: subdirectories of their
                 * own, which `kubectl apply -f DIR` does not read either. */
                const char *sub = o->partial ? "/partial" : o->create_only ? "/create-only" : "";
                if (asprintf(&pdir, "%s%s", a->output, sub) < 0 ||
                    asprintf(&path, "%s/%02zu-%s-%s.%s", pdir, i, o->kind, o->name, a->format) < 0)
                        return log_error_errno(ENOMEM, "Out of memory");
                if (*sub && (r = mkdir_p(pdir, dmode)) < 0)
                        return log_error_errno(r, "Failed to create '%s': %s", pdir, STRERROR(r));
                r = write_output_file(a, path, object_for_output(a, o, c));
                if (r < 0)
                        return r;
        }
        /* A subdirectory, so `kubectl apply -f DIR` reads only the objects. */
        if (asprintf(&cdir, "%s/oauth-clients", a->output) < 0 || asprintf(&cpath, "%s/clients.json", cdir) < 0)
                return log_error_errno(ENOMEM, "Out of memory");
        if ((r = mkdir_p(cdir, dmode)) < 0)
                return log_error_errno(r, "Failed to create '%s': %s", cdir, STRERROR(r));
        r = write_output_file(&(CliArgs) { .format = "json", .show_secrets = a->show_secrets }, cpath,
                              clients_json(s));
        if (r < 0)
                return r;
        fprintf(stderr, "wrote %zu object(s) and %zu oauth client(s) to '%s'\n", s->n_objects, s->n_clients, a->output);
        return 0;
}

static int render_list(const CliArgs *a, const Config *c, const DesiredSet *s) {
        cJSON *list = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(list, "items");
        bool ok = items && cJSON_AddStringToObject(list, "apiVersion", "v1") &&
                  cJSON_AddStringToObject(list, "kind", "List");
        cJSON *partial = ok ? cJSON_AddArrayToObject(list, "partialObjects") : NULL; /* set on existing objects only */
        ok = ok && partial;
        int r;

        for (size_t i = 0; ok && i < s->n_objects; i++) {
                cJSON *j = object_for_output(a, &s->objects[i], c);
                ok = j && cJSON_AddItemToArray(s->objects[i].partial ? partial : items, j);
                if (!ok)
                        cJSON_Delete(j);
        }
        if (ok) {
                cJSON *cl = clients_json(s);
                ok = cl && cJSON_AddItemToObject(list, "oauthClients", cl);
                if (!ok)
                        cJSON_Delete(cl);
        }
        r = ok ? write_object(stdout, a, list) : -ENOMEM;
        cJSON_Delete(list);
        return r;
}

static int render_to_stdout(const CliArgs *a, const Config *c, const DesiredSet *s) {
        int r = 0;

        if (streq(a->format, "json"))
                r = render_list(a, c, s);
        for (size_t i = 0; r >= 0 && !streq(a->format, "json") && i < s->n_objects; i++) {
                if (s->objects[i].list_entries)
                        printf("---\n# %s (partial: its %s entries added to the existing object's, keeping every "
                               "other; never created or deleted)\n", s->objects[i].source, s->objects[i].list_entries);
                else if (s->objects[i].partial)
                        printf("---\n# %s (partial: set on the existing object only, never created or deleted)\n",
                               s->objects[i].source);
                else if (s->objects[i].create_only)
                        printf("---\n# %s (module %s; created when it does not exist, never overwritten or "
                               "deleted)\n", s->objects[i].source, s->objects[i].modules);
                else
                        printf("---\n# %s (module %s)\n", s->objects[i].source,
                               module_to_string(s->objects[i].module));
                cJSON *j = object_for_output(a, &s->objects[i], c);
                r = write_object(stdout, a, j);
                cJSON_Delete(j);
        }
        if (r >= 0 && !streq(a->format, "json")) {
                printf("---\n# oauth_clients rows (applied with `nap-agent seed`, not by kubectl):\n");
                for (size_t i = 0; i < s->n_clients; i++)
                        printf("#   %s \"%s\" redirect_uris={%s}\n", s->clients[i].id, s->clients[i].name,
                               s->clients[i].redirect_uri);
        }
        if (r >= 0 && (fflush(stdout) != 0 || ferror(stdout)))
                r = -EIO;
        if (r < 0)
                return log_error_errno(r, "Failed to write the objects: %s", STRERROR(r));
        return 0;
}

/* render reads no cluster, and the digest's key lives in one: say so. */
static void note_digest_pending(const Config *c, const DesiredSet *s) {
        for (size_t i = 0; i < s->n_objects; i++)
                if (template_needs_secret_digest_key(&s->objects[i])) {
                        fprintf(stderr, "note: %s is \"%s\" here: it is an HMAC of the Secret values the pod "
                                "consumes, keyed by Secret '%s' in namespace '%s', which render does not read\n",
                                SECRET_DIGEST_ANNOTATION, SECRET_DIGEST_PENDING, SECRET_DIGEST_KEY_SECRET,
                                config_get(c, "NAMESPACE"));
                        return;
                }
}

int cli_render(CliArgs *a) {
        _cleanup_(diag_list_clear) DiagList diags = { 0 };
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(desired_set_freep) DesiredSet *s = NULL;
        int r;

        assert(a);

        if (cli_load_config(a, &c) < 0)
                return CLI_EXIT_FAILURE;
        r = template_render(c, &a->templates, &s, &diags);
        print_diags(&diags);
        if (r < 0 || diag_has_errors(&diags)) {
                if (r < 0 && r != -EINVAL)
                        log_error_errno(r, "Failed to render: %s", STRERROR(r));
                return CLI_EXIT_FAILURE;
        }
        note_digest_pending(c, s);
        if (a->output)
                return render_to_dir(a, c, s) < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
        return render_to_stdout(a, c, s) < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
