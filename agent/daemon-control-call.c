/* SPDX-License-Identifier: Apache-2.0 */
/*
 * See daemon-control.h: the CLI's side of the control socket. The CLI is
 * no event loop: it connects, sends its request and waits for the answer
 * with poll(), bounded by the caller's timeout.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon-control.h"
#include "util/fs.h"
#include "util/json.h"

#define MAX_ANSWER (256 * 1024)

void control_answer_clear(ControlAnswer *a) {
        assert(a);

        free(a->refused);
        pass_result_clear(&a->res);
        *a = (ControlAnswer) { 0 };
}

static char *dup_string(const cJSON *o, const char *key) {
        const char *s = json_string(o, key);

        return s && *s ? strdup(s) : NULL;
}

static int parse_workloads(const cJSON *a, PassResult *res) {
        size_t n = (size_t) cJSON_GetArraySize(a), i = 0;
        const cJSON *o;

        if (!cJSON_IsArray(a))
                return -EPROTO;
        if (n == 0)
                return 0;
        if (!(res->workloads = calloc(n, sizeof *res->workloads)))
                return -ENOMEM;
        cJSON_ArrayForEach(o, a) {
                PassWorkload *w = &res->workloads[i++];
                const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "generation");
                res->n_workloads = i;
                *w = (PassWorkload) { .api_version = dup_string(o, "apiVersion"), .kind = dup_string(o, "kind"),
                                      .namespace = dup_string(o, "namespace"), .name = dup_string(o, "name"),
                                      .module = dup_string(o, "module"),
                                      .generation = cJSON_IsNumber(g) ? (long long) g->valuedouble : 0 };
                if (!w->api_version || !w->kind || !w->name)
                        return -EPROTO;
        }
        return 0;
}

static int parse_answer(const char *text, ControlAnswer *ret) {
        _cleanup_(cJSON_Deletep) cJSON *j = cJSON_Parse(text);
        const cJSON *result = cJSON_GetObjectItemCaseSensitive(j, "result"),
                    *gen = cJSON_GetObjectItemCaseSensitive(j, "generation"),
                    *invalid = cJSON_GetObjectItemCaseSensitive(j, "invalidValues");

        if (json_string(j, "refused")) {
                ret->refused = strdup(json_string(j, "refused"));
                return ret->refused ? 0 : -ENOMEM;
        }
        if (!cJSON_IsNumber(result) || !json_string(j, "status"))
                return -EPROTO;
        ret->result = result->valueint > 0 ? -EPROTO : result->valueint;
        ret->res.status = dup_string(j, "status");
        ret->res.generation = cJSON_IsNumber(gen) ? (unsigned long long) gen->valuedouble : 0;
        ret->res.invalid_values = cJSON_IsTrue(invalid);
        return parse_workloads(cJSON_GetObjectItemCaseSensitive(j, "workloads"), &ret->res);
}

static char *request_text(const char *verb, const char *values, const char *kubeconfig) {
        _cleanup_(cJSON_Deletep) cJSON *j = cJSON_CreateObject();
        _cleanup_free_ char *v = path_absolute(values), *k = kubeconfig ? path_absolute(kubeconfig) : NULL;

        if (!j || !v || (kubeconfig && !k) || !cJSON_AddStringToObject(j, "pass", verb) ||
            !cJSON_AddStringToObject(j, "values", v) || (k && !cJSON_AddStringToObject(j, "kubeconfig", k)))
                return NULL;
        return cJSON_PrintUnformatted(j);
}

/* Waits for events on fd until the deadline (CLOCK_MONOTONIC). */
static int wait_for(int fd, short events, usec_t deadline) {
        for (;;) {
                usec_t now = now_usec();
                struct pollfd p = { .fd = fd, .events = events };
                int k;

                if (now >= deadline)
                        return -ETIMEDOUT;
                k = poll(&p, 1, (int) ((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC));
                if (k < 0 && errno != EINTR)
                        return negative_errno();
                if (k > 0)
                        return 0;
        }
}

static int connect_to(const char *state_dir, int *ret_fd, pid_t *ret_pid) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct ucred cred;
        socklen_t n = sizeof cred;
        int k = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", state_dir, CONTROL_SOCKET);

        if (k < 0 || (size_t) k >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        /* A listening Unix socket takes the connection at once, or refuses
         * it (EAGAIN: its backlog is full). */
        if (connect(fd, (const struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + k + 1)) < 0)
                return errno == EAGAIN ? -EBUSY : negative_errno();
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &n) < 0)
                return negative_errno();
        *ret_pid = cred.pid;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int control_call(const char *state_dir, const char *verb, const char *values, const char *kubeconfig,
                 usec_t timeout, ControlAnswer *ret) {
        _cleanup_free_ char *request = NULL, *buf = NULL;
        _cleanup_close_ int fd = -1;
        usec_t deadline = now_usec() + timeout;
        ssize_t k;
        int r;

        assert(state_dir);
        assert(verb);
        assert(values);
        assert(ret);

        request = request_text(verb, values, kubeconfig);
        *ret = (ControlAnswer) { 0 };
        if (!request)
                return -ENOMEM;
        r = connect_to(state_dir, &fd, &ret->pid);
        if (r < 0)
                return r;
        if ((r = wait_for(fd, POLLOUT, deadline)) < 0)
                return r;
        /* A daemon that refuses the peer answers before the request and
         * closes: the answer is read all the same. */
        if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
                return negative_errno();
        if (!(buf = malloc(MAX_ANSWER + 1)))
                return -ENOMEM;
        do {
                if ((r = wait_for(fd, POLLIN, deadline)) < 0)
                        return r;
                k = recv(fd, buf, MAX_ANSWER, MSG_TRUNC);
        } while (k < 0 && (errno == EAGAIN || errno == EINTR));
        if (k < 0)
                return negative_errno();
        if (k == 0) /* the daemon went away before its answer */
                return -ECONNRESET;
        if (k > MAX_ANSWER)
                return -EPROTO;
        buf[k] = 0;
        r = parse_answer(buf, ret);
        if (r < 0)
                control_answer_clear(ret);
        return r;
}
