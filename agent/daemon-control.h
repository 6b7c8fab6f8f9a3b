/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's control socket: how `apply`, `apply --resync` and `seed`
 * hand their pass to the running daemon, which holds the state
 * directory's lock, and print its result, instead of refusing. It is
 * control.sock in the state directory, beside the lock: whoever finds the
 * lock taken finds the socket there. A SOCK_SEQPACKET Unix socket (one
 * message is one request or one answer), mode 0600 in a directory the
 * service keeps 0700, and a peer that is neither root nor the daemon's own
 * user is refused all the same (SO_PEERCRED). One request per connection:
 *
 *   -> {"pass": "apply" | "resync" | "seed", "values": PATH, "kubeconfig": PATH (optional)}
 *   <- {"result": 0 or -errno, "status": LINE, "generation": N, "invalidValues": BOOL,
 *       "workloads": [{"apiVersion", "kind", "namespace", "name", "module", "generation"}]}
 *   <- {"refused": WHY}
 *
 * A request is served by the next pass that starts: at once when the
 * daemon is idle, and while a pass runs by exactly one more pass after
 * it, which every request that came meanwhile shares; its result is the
 * answer. A request for another values.env or kubeconfig than the
 * daemon's is refused, saying which the daemon reads. Every step is an
 * sd-event source with a bound: the loop never waits on a client.
 */
#pragma once

#include <sys/types.h>
#include <systemd/sd-event.h>

#include "pass.h"
#include "util/clock.h"

#define CONTROL_SOCKET "control.sock"

typedef struct Control Control;

/* A pass is asked for (flags: PASS_*); the daemon starts it, or one more
 * after the one that runs, and tells control_pass_started(). */
typedef void (*ControlAsk)(unsigned flags, void *userdata);

typedef struct ControlOptions {
        const char *state_dir;
        const char *values_path;
        const char *kubeconfig; /* the daemon's --kubeconfig, or NULL */
} ControlOptions;

/* Listens on STATE_DIR/control.sock, replacing a stale one (the caller
 * holds the state directory's lock). Not logged. */
int control_new(sd_event *event, const ControlOptions *opts, ControlAsk ask, void *userdata, Control **ret);
/* Closes every connection (its client sees the daemon go) and removes the
 * socket. */
Control *control_free(Control *c);
/* A pass started: the requests waiting for one now wait for this one. */
void control_pass_started(Control *c);
/* The pass that started last ended: its requests get its result. */
void control_pass_done(Control *c, int r, const PassResult *res);
/* The values.env the daemon reads is another now (one of its candidates
 * appeared or went): requests must name that one. */
int control_set_values(Control *c, const char *values_path);
/* The daemon stops: every request is answered with why (a failure). */
void control_stop(Control *c, const char *why);

/* ---- the other side: the CLI -------------------------------------------- */

typedef struct ControlAnswer {
        pid_t pid;     /* the daemon's */
        char *refused; /* set: the daemon refused the request, and why */
        int result;    /* the pass's: 0, or a negative errno */
        PassResult res;
} ControlAnswer;

void control_answer_clear(ControlAnswer *a);

/* Asks the daemon listening in state_dir for a pass (verb: "apply",
 * "resync" or "seed") on values (and kubeconfig, may be NULL), and waits
 * at most timeout for its answer. 0: *ret is filled; -ENOENT or
 * -ECONNREFUSED: no daemon listens there; -ETIMEDOUT; -EPROTO: an answer
 * that cannot be read; another negative errno. Not logged. */
int control_call(const char *state_dir, const char *verb, const char *values, const char *kubeconfig,
                 usec_t timeout, ControlAnswer *ret);
