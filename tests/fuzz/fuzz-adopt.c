/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes kube_adopt_patch() and kube_adopt_leftovers(), which read
 * metadata.managedFields of an object as the server returned it (adoption
 * of install.sh's objects): no object may crash them or leak; the patch is
 * 0 with an object patch or none, or -ENOMEM; an object has no leftovers
 * against itself.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "kube-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        cJSON *live, *nothing, *patch = NULL;
        int r;

        if (size > 1024 * 1024)
                return 0;
        live = cJSON_ParseWithLength((const char *) data, size);
        if (!live)
                return 0;
        nothing = cJSON_CreateObject();
        CHECK(nothing);
        for (size_t i = 0; i < 2; i++) {
                r = kube_adopt_patch(live, i ? "v1" : "apps/v1", i ? KUBE_APPLY_TAKE_PATCHED : 0, &patch);
                CHECK(r == 0 || r == -ENOMEM);
                CHECK(!patch || cJSON_IsObject(patch));
                cJSON_Delete(patch);
                patch = NULL;
        }
        /* The object as its own "want" leaves nothing behind; with nothing
         * wanted (an empty object: want is never NULL), whatever is found
         * is dropped. */
        r = kube_adopt_leftovers(live, live, KUBE_APPLY_TAKE_PATCHED, false);
        CHECK(r == 0 || r == -ENOMEM);
        r = kube_adopt_leftovers(live, nothing, KUBE_APPLY_TAKE_PATCHED, true);
        CHECK(r >= 0 || r == -ENOMEM);
        cJSON_Delete(nothing);
        cJSON_Delete(live);
        return 0;
}
