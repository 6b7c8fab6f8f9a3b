/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes kube_adopt_patch(), which reads metadata.managedFields of an object
 * as the server returned it (adoption of install.sh's objects): no object
 * may crash it or leak; the result is 0 with an object patch or none, or
 * -ENOMEM.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "kube-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        cJSON *live, *patch = NULL;
        int r;

        if (size > 1024 * 1024)
                return 0;
        live = cJSON_ParseWithLength((const char *) data, size);
        if (!live)
                return 0;
        for (size_t i = 0; i < 2; i++) {
                r = kube_adopt_patch(live, i ? "v1" : "apps/v1", &patch);
                CHECK(r == 0 || r == -ENOMEM);
                CHECK(!patch || cJSON_IsObject(patch));
                cJSON_Delete(patch);
                patch = NULL;
        }
        cJSON_Delete(live);
        return 0;
}
