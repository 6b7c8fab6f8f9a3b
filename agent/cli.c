/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The command line: parses options, picks the verb, runs the pipeline stages
 * the verb needs, and prints. The CLI (and the manager) are the only places
 * that print diagnostics and decide exit codes.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli-internal.h"
#include "daemon.h"
#include "nap-config.h"
#include "util/fs.h"
#include "util/log.h"

typedef struct Verb {
        const char *name;
        int (*run)(CliArgs *a);
        const char *summary;
} Verb;

static const Verb verbs[] = {
        { "check",  cli_check,  "validate values.env, like `nginx -t` (exit 0 valid, 1 invalid)" },
        { "vars",   cli_vars,   "print the variables as parsed, defaulted and derived" },
        { "render", cli_render, "print the desired Kubernetes objects and oauth clients" },
        { "run",    cli_run,    "the daemon: watch values.env and apply every edit" },
        { "plan",   cli_plan,   "show what apply would change (exit 0 none, 2 changes pending, 1 error)" },
        { "apply",  cli_apply,  "one reconcile pass: apply exactly what changed" },
        { "seed",   cli_seed,   "sync only the oauth_clients rows" },
        { "status", cli_status, "what the agent applied, and its last pass" },
        { "restart", cli_restart, "restart the modules' workloads, pulling a re-pushed :latest image again" },
        { "doctor", cli_doctor, "run the operator's debugging list live (exit 0 when nothing fails)" },
        { "gen-secrets", cli_gen_secrets, "fill empty or change-me secrets in values.env, in place" },
};

static void help(void) {
        printf("Usage: nap-agent VERB [OPTIONS]\n\n"
               "Applies the Code Sandbox and Remote Browser modules of the NAP agent platform\n"
               "from the platform's values.env, in place: only what changed, declaratively.\n\n"
               "Verbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-12s %s\n", verbs[i].name, verbs[i].summary);
        printf("\nOptions:\n"
               "  --values FILE       values.env to read (default $NAP_VALUES, else %s\n"
               "                      if it exists, else %s)\n"
               "  --json              machine-readable output (vars)\n"
               "  --show-secrets      print secret values instead of <redacted>\n"
               "  --format json|yaml  output format of render (default yaml)\n"
               "  --output DIR        render: one file per object into DIR\n"
               "  --templates DIR     template directory (default: installed templates)\n"
               "  --state-dir DIR     ledger directory (default $STATE_DIRECTORY or /var/lib/nap-agent)\n"
               "  --kubeconfig FILE   kubeconfig (default $KUBECONFIG, KUBECONFIG in values.env, ...)\n"
               "  --live              plan: compare with the cluster (server-side dry-run), showing drift\n"
               "  --resync[=SECONDS]  apply: re-apply everything, repairing drift;\n"
               "                      run: the period of that full re-apply (default 600, 0: never)\n"
               "  --close-wait SECS   run: how long to wait for the writer of values.env to close it\n"
               "                      before applying what it wrote (default 30; closed or renamed: at once)\n"
               "  --settle MS         run: how long values.env must be quiet after it went away or\n"
               "                      came back through a directory change (default 500)\n"
               "  --idle-close SECS   run: after this long without a pass, close the connections\n"
               "                      and unload libcurl and libpq (default 30, 0: never)\n"
               "  --wait              apply: wait for the rollouts it caused; exit 1 when one fails\n"
               "  --rollout-timeout SECS\n"
               "                      run, apply --wait: a rollout not available after this long is\n"
               "                      failing (default 300; run: 0 does not follow rollouts)\n"
               "  --metrics-dir DIR   run: write the metrics (nap-agent.prom) there after each pass\n"
               "                      (default: node_exporter's textfile directory when it exists;\n"
               "                      empty: none)\n"
               "  -h --help           show this help\n"
               "  --version           show the version\n",
               NAP_VALUES_PATH, NAP_GETSH_VALUES_PATH);
}

enum {
        ARG_VERSION = 0x100,
        ARG_VALUES,
        ARG_JSON,
        ARG_SHOW_SECRETS,
        ARG_FORMAT,
        ARG_OUTPUT,
        ARG_TEMPLATES,
        ARG_STATE_DIR,
        ARG_KUBECONFIG,
        ARG_LIVE,
        ARG_RESYNC,
        ARG_SETTLE,
        ARG_CLOSE_WAIT,
        ARG_IDLE_CLOSE,
        ARG_WAIT,
        ARG_ROLLOUT_TIMEOUT,
        ARG_METRICS_DIR,
};

static int parse_uint(const char *s, const char *opt, unsigned long max, unsigned long *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || end == s || v > max)
                return log_error_errno(EINVAL, "%s takes a number from 0 to %lu, not '%s'", opt, max, s);
        *ret = v;
        return 0;
}

/* The options that take a number. */
static int parse_number_option(int c, const char *arg, CliArgs *a) {
        switch (c) {
        case ARG_RESYNC:
                a->resync = true;
                return arg ? parse_uint(arg, "--resync", 7UL * 24 * 3600, &a->resync_seconds) : 0;
        case ARG_SETTLE:
                return parse_uint(arg, "--settle", 60000, &a->settle_ms);
        case ARG_CLOSE_WAIT:
                if (parse_uint(arg, "--close-wait", MAX_DAEMON_CLOSE_WAIT_USEC / USEC_PER_SEC, &a->close_wait_seconds) < 0)
                        return -EINVAL;
                if (a->close_wait_seconds == 0)
                        return log_error_errno(EINVAL, "--close-wait takes at least 1 s: a file is never read while its "
                                               "writer may still be writing");
                return 0;
        case ARG_IDLE_CLOSE:
                return parse_uint(arg, "--idle-close", 7UL * 24 * 3600, &a->idle_close_seconds);
        case ARG_ROLLOUT_TIMEOUT:
                return parse_uint(arg, "--rollout-timeout", 24UL * 3600, &a->rollout_timeout_seconds);
        default: /* getopt_long said what it did not know */
                return -EINVAL;
        }
}

/* One option: 1 to go on, 0 when it was answered (--help, --version), or a
 * negative errno (said). */
static int parse_option(int c, const char *arg, CliArgs *a) {
        switch (c) {
        case 'h':
                help();
                return 0;
        case ARG_VERSION:
                printf("nap-agent %s\n", PACKAGE_VERSION);
                return 0;
        case ARG_VALUES:
                a->values = arg;
                break;
        case ARG_JSON:
                a->json = true;
                break;
        case ARG_SHOW_SECRETS:
                a->show_secrets = true;
                break;
        case ARG_FORMAT:
                if (!streq(arg, "json") && !streq(arg, "yaml"))
                        return log_error_errno(EINVAL, "--format takes json or yaml, not '%s'", arg);
                a->format = arg;
                break;
        case ARG_OUTPUT:
                a->output = arg;
                break;
        case ARG_TEMPLATES:
                a->templates.dir = arg;
                break;
        case ARG_STATE_DIR:
                a->state_dir = arg;
                break;
        case ARG_METRICS_DIR:
                a->metrics_dir = arg;
                break;
        case ARG_KUBECONFIG:
                a->kubeconfig = arg;
                break;
        case ARG_LIVE:
                a->live = true;
                break;
        case ARG_WAIT:
                a->wait = true;
                break;
        default:
                return parse_number_option(c, arg, a) < 0 ? -EINVAL : 1;
        }
        return 1;
}

static int parse_args(int argc, char *argv[], CliArgs *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "values", required_argument, NULL, ARG_VALUES },
                { "json", no_argument, NULL, ARG_JSON },
                { "show-secrets", no_argument, NULL, ARG_SHOW_SECRETS },
                { "format", required_argument, NULL, ARG_FORMAT },
                { "output", required_argument, NULL, ARG_OUTPUT },
                { "templates", required_argument, NULL, ARG_TEMPLATES },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "kubeconfig", required_argument, NULL, ARG_KUBECONFIG },
                { "live", no_argument, NULL, ARG_LIVE },
                { "resync", optional_argument, NULL, ARG_RESYNC },
                { "settle", required_argument, NULL, ARG_SETTLE },
                { "close-wait", required_argument, NULL, ARG_CLOSE_WAIT },
                { "idle-close", required_argument, NULL, ARG_IDLE_CLOSE },
                { "wait", no_argument, NULL, ARG_WAIT },
                { "rollout-timeout", required_argument, NULL, ARG_ROLLOUT_TIMEOUT },
                { "metrics-dir", required_argument, NULL, ARG_METRICS_DIR },
                { 0 },
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                if ((r = parse_option(c, optarg, a)) <= 0)
                        return r;
        if (optind < argc)
                a->verb = argv[optind++];
        if (optind < argc)
                return log_error_errno(EINVAL, "unexpected argument '%s'; see nap-agent --help", argv[optind]);
        return 1;
}

ManagerOptions cli_manager_options(const CliArgs *a) {
        assert(a);

        return (ManagerOptions) {
                .read_only = true,
                .values_path = a->values,
                .state_dir = a->state_dir,
                .kubeconfig = a->kubeconfig,
                .templates = a->templates,
        };
}

int cli_session_open(const CliArgs *a, const char *outcome, CliSession *s) {
        _cleanup_free_ char *why = NULL;
        ManagerOptions o;
        int r;

        assert(a);
        assert(outcome);
        assert(s);

        o = cli_manager_options(a);
        r = manager_new(&o, &s->m);
        if (r < 0)
                return r; /* logged */
        r = pass_load_desired(s->m, &s->config, &s->desired, &why);
        if (r == -EINVAL)
                log_error("%s is invalid: %s", a->values, outcome);
        else if (r < 0)
                log_error("%s: %s", why ? why : STRERROR(r), outcome);
        return r;
}

void cli_session_clear(CliSession *s) {
        assert(s);

        desired_set_free(s->desired);
        config_free(s->config);
        manager_free(s->m);
        *s = (CliSession) { 0 };
}

/* The one values.env, in place (nap-agent(8), FILES): --values, else
 * $NAP_VALUES, else /etc/nap's when it exists (an operator who keeps it
 * there), else where the platform's get.sh keeps it. A name that exists as
 * a dangling symlink counts: the daemon follows it until its target is
 * there. With none of them there, the first is named in what is said. */
static void cli_find_values(CliArgs *a) {
        const char *e = getenv("NAP_VALUES");
        struct stat st;

        if (a->values || !strempty(e)) {
                a->values_origin = a->values ? "given with --values" : "named by $NAP_VALUES";
                a->values = a->values ? a->values : e;
                a->values_candidates[0] = a->values;
                return;
        }
        a->values_candidates[0] = NAP_VALUES_PATH;
        a->values_candidates[1] = NAP_GETSH_VALUES_PATH;
        if (lstat(NAP_VALUES_PATH, &st) >= 0) {
                a->values = NAP_VALUES_PATH;
                a->values_origin = "it exists, so it is read instead of " NAP_GETSH_VALUES_PATH;
        } else if (lstat(NAP_GETSH_VALUES_PATH, &st) >= 0) {
                a->values = NAP_GETSH_VALUES_PATH;
                a->values_origin = "the platform's get.sh installation; there is no " NAP_VALUES_PATH;
        } else {
                a->values = NAP_VALUES_PATH;
                a->values_origin = "neither it nor " NAP_GETSH_VALUES_PATH " exists; set NAP_VALUES, or pass "
                                   "--values, for a values.env elsewhere";
        }
}

void cli_say_values(const CliArgs *a) {
        assert(a);

        log_info("values.env: '%s' (%s)", a->values, a->values_origin);
}

/* The paths no option gave: the environment's, else the installed ones. The
 * binary behaves the same wherever it was built: one run from a build tree
 * that should read the source tree's templates is told so (--templates,
 * NAP_TEMPLATES_DIR). */
static void cli_default_paths(CliArgs *a) {
        cli_find_values(a);
        if (!a->templates.dir && !(a->templates.dir = getenv("NAP_TEMPLATES_DIR")))
                a->templates.dir = NAP_TEMPLATES_DIR;
        if (!a->templates.override_dir && !(a->templates.override_dir = getenv("NAP_TEMPLATES_OVERRIDE_DIR")))
                a->templates.override_dir = NAP_TEMPLATES_OVERRIDE_DIR;
}

int cli_main(int argc, char *argv[]) {
        CliArgs a = {
                .format = "yaml",
                .resync_seconds = DEFAULT_DAEMON_RESYNC_USEC / USEC_PER_SEC,
                .settle_ms = DEFAULT_DAEMON_SETTLE_USEC / USEC_PER_MSEC,
                .close_wait_seconds = DEFAULT_DAEMON_CLOSE_WAIT_USEC / USEC_PER_SEC,
                .idle_close_seconds = DEFAULT_DAEMON_IDLE_CLOSE_USEC / USEC_PER_SEC,
                .rollout_timeout_seconds = DEFAULT_ROLLOUT_TIMEOUT_USEC / USEC_PER_SEC,
        };
        int r;

        assert(argv);

        log_setup();
        r = parse_args(argc, argv, &a);
        if (r <= 0)
                return r < 0 ? CLI_EXIT_USAGE : 0;
        cli_default_paths(&a);
        if (!a.verb) {
                help();
                return CLI_EXIT_USAGE;
        }
        if (a.wait && a.rollout_timeout_seconds == 0) {
                log_error("--wait needs a --rollout-timeout above 0");
                return CLI_EXIT_USAGE;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, a.verb))
                        return verbs[i].run(&a);
        log_error("unknown verb '%s'; see nap-agent --help", a.verb);
        return CLI_EXIT_USAGE;
}
