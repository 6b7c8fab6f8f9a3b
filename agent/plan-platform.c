/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The keys only the platform's install.sh applies (config-platform.c): the
 * plan keeps a keyed digest of each one's value, as install.sh resolves it,
 * and flags the ones whose digest differs from what the ledger recorded at
 * the last pass. Both `plan` and the pass say so once per edit, with the
 * command that applies it: the pass records the new digests, so the next
 * pass is quiet. The ledger never holds a value, only the HMAC with its
 * per-host key (several of these keys are secrets). With no digests
 * recorded yet (the first pass, a ledger lost or from an older agent)
 * nothing counts as changed: there is no edit to report, only a baseline.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan-internal.h"
#include "util/wipe.h"

static void digest(const Ledger *l, const char *name, const char *value, char ret[LEDGER_DIGEST_HEX]) {
        _cleanup_free_ char *s = NULL;
        int n;

        /* Prefixed so that it can never equal the digest of anything else the ledger keeps. */
        n = asprintf(&s, "platform-key\n%s=%s", name, value);
        if (n < 0) {
                ret[0] = 0; /* compares unequal with every recorded digest: said once more, at worst */
                return;
        }
        ledger_hmac(l, s, (size_t) n, ret);
        explicit_bzero(s, (size_t) n);
}

int plan_platform_keys_compute(Plan *p, const Config *c, const Ledger *l) {
        size_t n = config_platform_key_count();
        bool baseline;

        assert(p);
        assert(c);
        assert(l);

        baseline = ledger_platform_keys_recorded(l);
        p->platform_keys = calloc(n, sizeof *p->platform_keys);
        if (!p->platform_keys)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                PlanPlatformKey *k = &p->platform_keys[i];
                char *value = NULL;
                const char *was;
                int r = config_platform_key_value(c, i, &value);

                if (r < 0)
                        return r;
                k->name = config_platform_key_name(i);
                k->modules_too = config_platform_key_modules_too(i);
                digest(l, k->name, value, k->digest);
                wipe_free(value);
                was = ledger_platform_key(l, k->name);
                k->changed = baseline && was && !streq(was, k->digest);
                p->n_platform_keys++;
        }
        return 0;
}

void plan_platform_keys_free(Plan *p) {
        assert(p);

        free(p->platform_keys);
        p->platform_keys = NULL;
        p->n_platform_keys = 0;
}

size_t plan_platform_keys_changed(const Plan *p) {
        size_t n = 0;

        assert(p);

        for (size_t i = 0; i < p->n_platform_keys; i++)
                n += p->platform_keys[i].changed;
        return n;
}

int plan_platform_key_notice(const PlanPlatformKey *k, char **ret) {
        char *s;

        assert(k);
        assert(ret);

        if (asprintf(&s, "%s changed: the platform's own objects get it only from the platform's installer; run "
                     "`install.sh --manifests-only` to apply it there%s", k->name,
                     k->modules_too ? " (the modules' objects follow it here)" : " (nap-agent does not apply it)") < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int plan_platform_keys_record(Ledger *l, const Plan *p) {
        int changed = 0;

        assert(l);
        assert(p);

        for (size_t i = 0; i < p->n_platform_keys; i++) {
                const PlanPlatformKey *k = &p->platform_keys[i];
                const char *was = ledger_platform_key(l, k->name);
                int r;

                if (was && streq(was, k->digest) && ledger_platform_keys_recorded(l))
                        continue;
                r = ledger_record_platform_key(l, k->name, k->digest);
                if (r < 0)
                        return r;
                changed = 1;
        }
        return changed;
}
