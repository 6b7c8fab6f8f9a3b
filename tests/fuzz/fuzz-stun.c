/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes doctor_stun_mapped_address(), which reads the attributes of a STUN
 * Binding answer that came over UDP from TURN_HOST: no answer may crash it
 * or make it read past its end (AddressSanitizer sees the copy's exact
 * size); the result is NULL or "a.b.c.d:port".
 */
#include <stdio.h>
#include <string.h>

#include "doctor.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t *copy = malloc(size ? size : 1);
        char *s;

        if (!copy)
                return 0;
        memcpy(copy, data, size);
        s = doctor_stun_mapped_address(copy, size);
        if (s) {
                unsigned a, b, c, d, port;
                char end;
                CHECK(sscanf(s, "%u.%u.%u.%u:%u%c", &a, &b, &c, &d, &port, &end) == 5);
                CHECK(a < 256 && b < 256 && c < 256 && d < 256 && port < 65536);
        }
        free(s);
        free(copy);
        return 0;
}
