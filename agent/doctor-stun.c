/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A STUN Binding request (RFC 5389 §6–7), the few bytes a browser sends
 * coturn first: if nothing answers, video will not work. Only sent to the
 * configured TURN_HOST:TURN_PORT.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "doctor.h"
#include "util/clock.h"
#include "util/defaults.h"

#define STUN_MAGIC 0x2112A442u
#define STUN_BINDING_REQUEST 0x0001
#define STUN_BINDING_SUCCESS 0x0101
#define STUN_XOR_MAPPED_ADDRESS 0x0020


/* "a.b.c.d:port" from an XOR-MAPPED-ADDRESS (IPv4 only; else NULL). */
static char *mapped_address(const uint8_t *buf, size_t len) {
        size_t off = 20;

        while (off + 4 <= len) {
                uint16_t type = (uint16_t) (buf[off] << 8 | buf[off + 1]);
                uint16_t alen = (uint16_t) (buf[off + 2] << 8 | buf[off + 3]);
                if (off + 4 + alen > len)
                        break;
                if (type == STUN_XOR_MAPPED_ADDRESS && alen >= 8 && buf[off + 5] == 0x01) {
                        uint16_t port = (uint16_t) ((buf[off + 6] << 8 | buf[off + 7]) ^ (STUN_MAGIC >> 16));
                        uint32_t a = ((uint32_t) buf[off + 8] << 24 | (uint32_t) buf[off + 9] << 16 |
                                      (uint32_t) buf[off + 10] << 8 | buf[off + 11]) ^ STUN_MAGIC;
                        char *s;
                        if (asprintf(&s, "%u.%u.%u.%u:%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255,
                                     port) < 0)
                                return NULL;
                        return s;
                }
                off += 4 + ((alen + 3u) & ~3u);
        }
        return NULL;
}

char *doctor_stun_mapped_address(const uint8_t *answer, size_t len) {
        assert(answer || len == 0);

        return mapped_address(answer, len);
}

int doctor_stun_ping(const char *host, unsigned port, usec_t timeout_usec, char **ret_mapped) {
        struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
        struct addrinfo *ai = NULL;
        uint8_t req[20], resp[512];
        char portstr[8];
        usec_t deadline = now_usec() + (timeout_usec ? timeout_usec : DEFAULT_DOCTOR_STUN_TIMEOUT_USEC);
        int fd, r = -ETIMEDOUT;

        assert(host);

        snprintf(portstr, sizeof portstr, "%u", port);
        if (getaddrinfo(host, portstr, &hints, &ai) != 0 || !ai)
                return -EADDRNOTAVAIL; /* TURN_HOST must be an IP: never resolve names here */
        fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                freeaddrinfo(ai);
                return -errno;
        }
        req[0] = STUN_BINDING_REQUEST >> 8, req[1] = STUN_BINDING_REQUEST & 255;
        req[2] = req[3] = 0; /* no attributes */
        req[4] = STUN_MAGIC >> 24, req[5] = (STUN_MAGIC >> 16) & 255, req[6] = (STUN_MAGIC >> 8) & 255,
        req[7] = STUN_MAGIC & 255;
        if (RAND_bytes(req + 8, 12) != 1 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
            send(fd, req, sizeof req, 0) != (ssize_t) sizeof req) {
                r = errno ? -errno : -EIO;
                goto finish;
        }
        for (usec_t now; (now = now_usec()) < deadline;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int k = poll(&p, 1, (int) usec_to_ms_ceil(deadline - now));
                if (k <= 0)
                        continue;
                ssize_t n = recv(fd, resp, sizeof resp, 0);
                if (n < 0) {
                        /* ICMP port unreachable: nobody listens */
                        r = errno == ECONNREFUSED ? -ECONNREFUSED : -errno;
                        break;
                }
                if (n < 20 || resp[0] != (STUN_BINDING_SUCCESS >> 8) || resp[1] != (STUN_BINDING_SUCCESS & 255) ||
                    memcmp(resp + 4, req + 4, 16) != 0)
                        continue; /* not our answer */
                if (ret_mapped)
                        *ret_mapped = mapped_address(resp, (size_t) n);
                r = 0;
                break;
        }
finish:
        close(fd);
        freeaddrinfo(ai);
        return r;
}
