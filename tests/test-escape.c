/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util/escape: control characters, backslash, DEL, C1 controls and bytes
 * that are not UTF-8 come out C-style; printable ASCII and valid UTF-8 pass
 * unchanged; the FILE and StrBuf forms agree.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests.h"
#include "util/escape.h"

static void check(const char *in, const char *want) {
        _cleanup_free_ char *s = cescape(in), *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ASSERT_STREQ(s, want);
        ASSERT_TRUE(f);
        fputs_escaped(in, f);
        fclose(f);
        ASSERT_STREQ(buf, want);
}

TEST(passes_text) {
        check("", "");
        check("plain text, \"quoted\" and 'single' ${X}", "plain text, \"quoted\" and 'single' ${X}");
        check("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST(escapes_controls) {
        check("a\nb", "a\\nb");
        check("\t\r", "\\t\\r");
        check("\x1b[31mred", "\\x1b[31mred");
        check("back\\slash", "back\\\\slash");
        check("\x01\x7f", "\\x01\\x7f");
}

TEST(escapes_what_is_not_utf8) {
        check("\xc2\x9b" "2J", "\\xc2\\x9b2J");      /* U+009B, CSI as a C1 control */
        check("\xff\xfe", "\\xff\\xfe");
        check("\xc3", "\\xc3");                    /* cut short */
        check("\xc0\xaf", "\\xc0\\xaf");           /* overlong */
        check("\xed\xa0\x80", "\\xed\\xa0\\x80");  /* a surrogate */
        check("\xe2\x82", "\\xe2\\x82");
}

TEST_MAIN(T(passes_text), T(escapes_controls), T(escapes_what_is_not_utf8))
