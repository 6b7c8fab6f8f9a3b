/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See daemon-control.h: the daemon's side of the control socket. Each
 * connection is a Client: READING until its one request came (bounded by
 * a timer), then NEXT (waiting for the next pass to start) and CURRENT
 * (waiting for the pass that runs), then answered and closed. A client
 * that goes away is forgotten; the pass it asked for runs all the same.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon-control.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"

#define MAX_CLIENTS 16
#define MAX_REQUEST 8192
#define REQUEST_TIMEOUT_USEC (5 * USEC_PER_SEC)

typedef enum ClientState {
        CLIENT_READING,
        CLIENT_NEXT,
        CLIENT_CURRENT,
} ClientState;

typedef struct Client {
        Control *control;
        int fd;
        sd_event_source *io;
        sd_event_source *timeout;
        ClientState state;
        pid_t pid;
        uid_t uid;
        const char *refused; /* set: the peer may not ask; answered so once its request came */
} Client;

struct Control {
        sd_event *event;
        int fd;
        sd_event_source *listen;
        char *path;
        char *values;     /* absolute */
        char *kubeconfig; /* absolute, or NULL */
        ControlAsk ask;
        void *userdata;
        Client *clients[MAX_CLIENTS];
        size_t n_clients;
};

static void client_free(Client *cl) {
        Control *c = cl->control;

        for (size_t i = 0; i < c->n_clients; i++)
                if (c->clients[i] == cl) {
                        c->clients[i] = c->clients[--c->n_clients];
                        break;
                }
        sd_event_source_disable_unref(cl->io);
        sd_event_source_disable_unref(cl->timeout);
        if (cl->fd >= 0)
                close(cl->fd);
        free(cl);
}

/* One message; a client that cannot take it (gone, its buffer full) is
 * not waited for. */
static void send_json(int fd, cJSON *j) {
        _cleanup_free_ char *text = j ? cJSON_PrintUnformatted(j) : NULL;

        cJSON_Delete(j);
        if (!text || send(fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                log_debug("could not answer a control request: %s", text ? STRERROR(errno) : "out of memory");
}

static void refuse(int fd, const char *why) {
        cJSON *j = cJSON_CreateObject();

        if (j && !cJSON_AddStringToObject(j, "refused", why)) {
                cJSON_Delete(j);
                j = NULL;
        }
        send_json(fd, j);
}

static bool add_workload(cJSON *a, const PassWorkload *w) {
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddItemToArray(a, o)) {
                cJSON_Delete(o);
                return false;
        }
        return cJSON_AddStringToObject(o, "apiVersion", w->api_version) && cJSON_AddStringToObject(o, "kind", w->kind) &&
               cJSON_AddStringToObject(o, "namespace", w->namespace ? w->namespace : "") &&
               cJSON_AddStringToObject(o, "name", w->name) &&
               cJSON_AddStringToObject(o, "module", w->module ? w->module : "") &&
               cJSON_AddNumberToObject(o, "generation", (double) w->generation);
}

static cJSON *workloads_json(const PassResult *res) {
        cJSON *a = cJSON_CreateArray();

        for (size_t i = 0; a && i < res->n_workloads; i++)
                if (!add_workload(a, &res->workloads[i])) {
                        cJSON_Delete(a);
                        return NULL;
                }
        return a;
}

static cJSON *answer_json(int r, const PassResult *res) {
        cJSON *j = cJSON_CreateObject(), *w = workloads_json(res);

        if (!j || !w || !cJSON_AddNumberToObject(j, "result", r) ||
            !cJSON_AddStringToObject(j, "status", res->status ? res->status : "") ||
            !cJSON_AddNumberToObject(j, "generation", (double) res->generation) ||
            !cJSON_AddBoolToObject(j, "invalidValues", res->invalid_values) ||
            !cJSON_AddItemToObject(j, "workloads", w)) {
                cJSON_Delete(w);
                cJSON_Delete(j);
                return NULL;
        }
        return j;
}

/* Answers every client in state with (r, res), and forgets it. */
static void answer_all(Control *c, ClientState state, int r, const PassResult *res) {
        for (size_t i = c->n_clients; i > 0; i--) {
                Client *cl = c->clients[i - 1];
                if (cl->state != state)
                        continue;
                send_json(cl->fd, answer_json(r, res));
                client_free(cl);
        }
}

void control_pass_started(Control *c) {
        for (size_t i = 0; c && i < c->n_clients; i++)
                if (c->clients[i]->state == CLIENT_NEXT)
                        c->clients[i]->state = CLIENT_CURRENT;
}

void control_pass_done(Control *c, int r, const PassResult *res) {
        assert(res);

        if (c)
                answer_all(c, CLIENT_CURRENT, r, res);
}

int control_set_values(Control *c, const char *values_path) {
        char *p;

        assert(values_path);

        if (!c)
                return 0;
        p = path_absolute(values_path);
        if (!p)
                return -ENOMEM;
        free(c->values);
        c->values = p;
        return 0;
}

void control_stop(Control *c, const char *why) {
        PassResult res = { .status = (char *) why };

        assert(why);

        if (!c)
                return;
        answer_all(c, CLIENT_CURRENT, -ECANCELED, &res);
        answer_all(c, CLIENT_NEXT, -ECANCELED, &res);
        while (c->n_clients > 0)
                client_free(c->clients[0]);
}

/* ---- a request ---------------------------------------------------------------- */

/* Whether path names the same as mine (both made absolute). */
static bool same_path(const char *path, const char *mine) {
        _cleanup_free_ char *a = path ? path_absolute(path) : NULL;

        return a && streq(a, mine);
}

/* The flags a valid request asks for, or -1 with *ret_why set. */
static int parse_request(const Control *c, const char *text, char *why, size_t n) {
        _cleanup_(cJSON_Deletep) cJSON *j = cJSON_Parse(text);
        const char *verb = json_string(j, "pass"), *values = json_string(j, "values"),
                   *kubeconfig = json_string(j, "kubeconfig");

        if (!verb || !values) {
                snprintf(why, n, "%s", "not a request this daemon understands");
                return -1;
        }
        if (!same_path(values, c->values)) {
                snprintf(why, n, "the running daemon applies '%s', not '%s': run the verb without --values, or "
                         "with --values '%s'", c->values, values, c->values);
                return -1;
        }
        if (kubeconfig && (!c->kubeconfig || !same_path(kubeconfig, c->kubeconfig))) {
                snprintf(why, n, "the running daemon reads %s%s%s, not '%s': run the verb without --kubeconfig",
                         c->kubeconfig ? "'" : "its own kubeconfig", c->kubeconfig ? c->kubeconfig : "",
                         c->kubeconfig ? "'" : "", kubeconfig);
                return -1;
        }
        if (streq(verb, "apply"))
                return 0;
        if (streq(verb, "resync"))
                return PASS_RESYNC;
        if (streq(verb, "seed"))
                return PASS_CLIENTS_ONLY;
        snprintf(why, n, "unknown pass '%s'", verb);
        return -1;
}

static void client_read(Client *cl) {
        Control *c = cl->control;
        char buf[MAX_REQUEST + 1], why[PATH_MAX * 2 + 256];
        ssize_t k = recv(cl->fd, buf, MAX_REQUEST, MSG_DONTWAIT | MSG_TRUNC);
        int flags;

        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (k <= 0 || cl->state != CLIENT_READING) { /* gone, or more than its one request */
                if (k > 0)
                        log_debug("control: PID %d sent more than one request, closing", (int) cl->pid);
                client_free(cl);
                return;
        }
        if (k > MAX_REQUEST) {
                refuse(cl->fd, "request too long");
                client_free(cl);
                return;
        }
        /* Refused only now that its request is read: closing a socket with
         * a request still unread in it would reset the connection, and the
         * client would see that instead of why. */
        if (cl->refused) {
                refuse(cl->fd, cl->refused);
                client_free(cl);
                return;
        }
        buf[k] = 0;
        flags = parse_request(c, buf, why, sizeof why);
        if (flags < 0) {
                log_warning("Refused a request of PID %d (uid %u) on '%s': %s", (int) cl->pid, (unsigned) cl->uid,
                            c->path, why);
                refuse(cl->fd, why);
                client_free(cl);
                return;
        }
        cl->state = CLIENT_NEXT;
        cl->timeout = sd_event_source_disable_unref(cl->timeout);
        log_info("PID %d (uid %u) asked for a pass%s through '%s'", (int) cl->pid, (unsigned) cl->uid,
                 flags & PASS_RESYNC ? " (resync)" : flags & PASS_CLIENTS_ONLY ? " (seed)" : "", c->path);
        c->ask((unsigned) flags, c->userdata);
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        client_read(userdata);
        return 0;
}

static int on_client_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Client *cl = userdata;

        log_debug("control: PID %d sent no request within %llu s, closing", (int) cl->pid,
                  (unsigned long long) (REQUEST_TIMEOUT_USEC / USEC_PER_SEC));
        client_free(cl);
        return 0;
}

/* Root and the daemon's own user (the service user) may ask; nobody else,
 * whatever the socket's mode says. */
static int client_add(Control *c, int fd) {
        struct ucred cred;
        socklen_t n = sizeof cred;
        const char *refused = NULL;
        Client *cl;
        int r;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &n) < 0)
                return negative_errno();
        if (cred.uid != 0 && cred.uid != geteuid()) {
                log_warning("Refused a request of PID %d on '%s': uid %u may not ask (only root and uid %u)",
                            (int) cred.pid, c->path, (unsigned) cred.uid, (unsigned) geteuid());
                refused = "only root and the daemon's own user may ask it for a pass";
        }
        if (c->n_clients >= MAX_CLIENTS) {
                refuse(fd, "too many requests at once: try again");
                return -EBUSY;
        }
        if (!(cl = calloc(1, sizeof *cl)))
                return -ENOMEM;
        *cl = (Client) { .control = c, .fd = fd, .pid = cred.pid, .uid = cred.uid, .refused = refused };
        c->clients[c->n_clients++] = cl;
        r = sd_event_add_io(c->event, &cl->io, fd, EPOLLIN, on_client_io, cl);
        if (r >= 0)
                r = sd_event_add_time_relative(c->event, &cl->timeout, CLOCK_MONOTONIC, REQUEST_TIMEOUT_USEC, 0,
                                               on_client_timeout, cl);
        if (r < 0) {
                cl->fd = -1; /* the caller closes it */
                client_free(cl);
        }
        return r;
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Control *c = userdata;
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        log_debug("control: accept failed: %s", STRERROR(errno));
                return 0;
        }
        if (client_add(c, cfd) < 0)
                close(cfd);
        return 0;
}

/* ---- the socket ------------------------------------------------------------------ */

static int socket_address(const char *path, struct sockaddr_un *ret, socklen_t *ret_len) {
        size_t n = strlen(path);

        if (n >= sizeof ret->sun_path)
                return -ENAMETOOLONG;
        *ret = (struct sockaddr_un) { .sun_family = AF_UNIX };
        memcpy(ret->sun_path, path, n + 1);
        *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
}

/* A socket only its owner may connect to, made so from the start (no
 * window in which it has the umask's mode). */
static int listen_on(const char *path) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa;
        socklen_t len;
        mode_t old;
        int r;

        r = socket_address(path, &sa, &len);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (unlink(path) < 0 && errno != ENOENT) /* a stale one: its daemon is gone, we hold the lock */
                return negative_errno();
        old = umask(0177);
        r = bind(fd, (const struct sockaddr *) &sa, len) < 0 ? negative_errno() : 0;
        umask(old);
        if (r < 0)
                return r;
        if (listen(fd, MAX_CLIENTS) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

Control *control_free(Control *c) {
        if (!c)
                return NULL;
        while (c->n_clients > 0)
                client_free(c->clients[0]);
        sd_event_source_disable_unref(c->listen);
        if (c->fd >= 0) {
                close(c->fd);
                (void) unlink(c->path);
        }
        sd_event_unref(c->event);
        free(c->path);
        free(c->values);
        free(c->kubeconfig);
        free(c);
        return NULL;
}

int control_new(sd_event *event, const ControlOptions *opts, ControlAsk ask, void *userdata, Control **ret) {
        Control *c = calloc(1, sizeof *c);
        int r = -ENOMEM;

        assert(event);
        assert(opts);
        assert(opts->state_dir);
        assert(opts->values_path);
        assert(ask);
        assert(ret);

        if (!c)
                return -ENOMEM;
        *c = (Control) { .event = sd_event_ref(event), .fd = -1, .ask = ask, .userdata = userdata };
        if (asprintf(&c->path, "%s/%s", opts->state_dir, CONTROL_SOCKET) < 0)
                c->path = NULL;
        else if ((c->values = path_absolute(opts->values_path)) &&
                 (!opts->kubeconfig || (c->kubeconfig = path_absolute(opts->kubeconfig))))
                r = c->fd = listen_on(c->path);
        if (r >= 0)
                r = sd_event_add_io(event, &c->listen, c->fd, EPOLLIN, on_listen, c);
        if (r < 0) {
                control_free(c);
                return r;
        }
        *ret = c;
        return 0;
}
