/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the values.env parser: every supported construct gives the
 * value bash gives (tests/envfile/diff-bash.sh proves those against bash
 * itself), and every refused construct fails with the exact line:col and
 * message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envfile.h"
#include "tests.h"
#include "util/strbuf.h"

/* A parsed file and its diagnostics. */
typedef struct Parsed {
        EnvFile *f;
        DiagList diags;
} Parsed;

static void parsed_done(Parsed *p) {
        p->f = envfile_free(p->f);
        diag_list_clear(&p->diags);
}

/* Parses len bytes of text, failing the test on a parse error, and checks
 * each "KEY=value" of want (NULL-terminated, or want NULL). */
static Parsed parse_n(const char *text, size_t len, const char *const *want) {
        Parsed p = { 0 };
        int r = envfile_parse("t.env", text, len, &p.f, &p.diags);

        if (r < 0) {
                const Diag *d = diag_first_error(&p.diags);
                TEST_FAIL("parse failed: %d: %u:%u: %s", r, d ? d->line : 0, d ? d->col : 0,
                          d ? d->message : "(no diagnostic)");
        }
        ASSERT_TRUE(p.f);
        for (size_t i = 0; want && want[i]; i++) {
                const char *eq = strchr(want[i], '=');
                _cleanup_free_ char *key = strndup(want[i], (size_t) (eq - want[i]));

                test_context = want[i];
                ASSERT_STREQ(envfile_value(p.f, key), eq + 1);
        }
        test_context = NULL;
        return p;
}
#define PARSE(text) parse_n((text), strlen(text), NULL)
#define PARSE_EXPECT(text, ...) parse_n((text), strlen(text), (const char *const[]) { __VA_ARGS__, NULL })

/* A refused text: its first error is at line:col and says message. */
typedef struct Refusal {
        const char *text;
        unsigned line, col;
        const char *message;
        size_t len; /* 0: strlen(text) */
} Refusal;

static void check_error(const Refusal *c) {
        DiagList diags = { 0 };
        EnvFile *f = NULL;
        const Diag *d;

        test_context = c->text;
        ASSERT_EQ(envfile_parse("t.env", c->text, c->len ? c->len : strlen(c->text), &f, &diags), -EINVAL);
        ASSERT_NULL(f);
        d = diag_first_error(&diags);
        ASSERT_TRUE(d);
        ASSERT_STREQ(d->message, c->message);
        ASSERT_EQ(d->line, c->line);
        ASSERT_EQ(d->col, c->col);
        ASSERT_STREQ(d->file, "t.env");
        ASSERT_TRUE(d->hint);
        diag_list_clear(&diags);
        test_context = NULL;
}


TEST(simple) {
        _cleanup_(parsed_done) Parsed p = PARSE("A=1\nNAMESPACE=nap\n  B=x.y-z_\n");
        const EnvEntry *e = p.f->entries;

        ASSERT_EQ(p.f->n_entries, 3);
        ASSERT_STREQ(e[0].key, "A");
        ASSERT_STREQ(e[1].value, "nap");
        ASSERT_EQ(e[2].line, 3);
        ASSERT_EQ(e[2].col, 3);
        ASSERT_EQ(e[2].value_col, 5);
        ASSERT_TRUE(!e[2].exported);
        ASSERT_STREQ(p.f->path, "t.env");
        ASSERT_NULL(envfile_value(p.f, "C"));
        ASSERT_NULL(envfile_get(p.f, "C"));
}

TEST(export_prefix) {
        _cleanup_(parsed_done) Parsed p = PARSE_EXPECT("export A=1\nexport  B=2\n\texport\tC=3\nexported=4\nexport=5\n",
                                                       "exported=4", "export=5");
        const EnvEntry *e = p.f->entries;

        ASSERT_EQ(p.f->n_entries, 5);
        ASSERT_TRUE(e[0].exported);
        ASSERT_TRUE(e[1].exported);
        ASSERT_STREQ(e[1].value, "2");
        ASSERT_EQ(e[1].col, 9);
        ASSERT_TRUE(e[2].exported);
        ASSERT_TRUE(!e[3].exported);
}

TEST(blank_lines_and_comments) {
        _cleanup_(parsed_done) Parsed p = PARSE("\n# c\n   # indented\n\t#tab\n\n  \t \nA=1\n#B=2\n");
        _cleanup_(parsed_done) Parsed empty = PARSE("");

        ASSERT_EQ(p.f->n_entries, 1);
        ASSERT_EQ(p.f->entries[0].line, 7);
        ASSERT_EQ(empty.f->n_entries, 0);
}

/* A text and the value bash gives its key. */
typedef struct Value {
        const char *text, *key, *want;
} Value;

/* Every construct the parser supports, by kind: inline comments, quotes,
 * backslashes, line continuations, concatenation, ${...} expansions,
 * literal "$", globs, braces and "~", appending, and bytes as they are. */
static const Value values[] = {
        { "LDAP_ATTR_NAME=   # [ cn ]\n", "LDAP_ATTR_NAME", "" },
        { "K=foo # note\n", "K", "foo" },
        { "K=foo\t# note\n", "K", "foo" },
        { "K=x # c # d", "K", "x" },
        { "K=a#b\n", "K", "a#b" },
        { "K=#x\n", "K", "#x" },
        { "K=\"x\"#y\n", "K", "x#y" },
        { "K=\"# not\" # yes\n", "K", "# not" },
        { "K=\\#x\n", "K", "#x" },
        { "K=   \n", "K", "" },
        { "K='a b $X \"q\" ${Y} `z` $(w) \\n'\n", "K", "a b $X \"q\" ${Y} `z` $(w) \\n" },
        { "K='multi\nline'\nL=2\n", "K", "multi\nline" },
        { "K='a;b|c&d<e>f(g)'", "K", "a;b|c&d<e>f(g)" },
        { "K=''", "K", "" },
        { "K='it'\\''s'", "K", "it's" },
        { "K='~'", "K", "~" },
        { "K='a\\\nb'", "K", "a\\\nb" },
        { "K=\"a b\"", "K", "a b" },
        { "K=\"a\\qb\"", "K", "a\\qb" },
        { "K=\"\\\\\"", "K", "\\" },
        { "K=\"\\$x\"", "K", "$x" },
        { "K=\"\\`\"", "K", "`" },
        { "K=\"\\\"\"", "K", "\"" },
        { "K=\"a\\\nb\"", "K", "ab" },
        { "K=\"x\ny\"", "K", "x\ny" },
        { "K=\"'\"", "K", "'" },
        { "K=\"\\n\"", "K", "\\n" },
        { "K=\"a;b&c|d<e>(f) * ? [x] ~\"", "K", "a;b&c|d<e>(f) * ? [x] ~" },
        { "K=a\\ b", "K", "a b" },
        { "K=\\$x", "K", "$x" },
        { "K=a\\\\b", "K", "a\\b" },
        { "K=a\\qb", "K", "aqb" },
        { "K=x\\;y\\&z", "K", "x;y&z" },
        { "K=foo\\", "K", "foo\\" },
        { "K=\\~", "K", "~" },
        { "K=foo\\\nbar\n", "K", "foobar" },
        { "export \\\nK=1\n", "K", "1" },
        { "K\\\n=2\n", "K", "2" },
        { "A\\\nB=3\n", "AB", "3" },
        { "K=x \\\n# comment\n", "K", "x" },
        { "# comment \\\nK=1\n", "K", "1" },
        { "K=1 # comment \\\nL=2\n", "L", "2" },
        { "K=a\"b\"'c'd", "K", "abcd" },
        { "K=''\"\"x''", "K", "x" },
        { "A=v\nK=pre\"$A\"'$A'post", "K", "prev$Apost" },
        { "A=x\nK=$A", "K", "x" },
        { "A=x\nK=${A}", "K", "x" },
        { "A=x\nK=pre${A}post", "K", "prexpost" },
        { "A=x\nK=$A/$A.$A-$A:$A", "K", "x/x.x-x:x" },
        { "A=x\nK=\"$A $A\"", "K", "x x" },
        { "A=x\nA=y\nK=$A", "K", "y" },
        { "Q='a b;c ~ $X'\nK=$Q", "K", "a b;c ~ $X" },
        { "REGISTRY=r.io\nAPP_PREFIX=nap\nK=${REGISTRY}/${APP_PREFIX}", "K", "r.io/nap" },
        { "K=${U:-d}", "K", "d" },
        { "K=${U-d}", "K", "d" },
        { "E=\nK=${E:-d}", "K", "d" },
        { "E=\nK=${E-d}", "K", "" },
        { "S=v\nK=${S:-d}", "K", "v" },
        { "S=v\nK=${S-d}", "K", "v" },
        { "K=${U:-}", "K", "" },
        { "B=b\nK=${U:-${B:-x}}", "K", "b" },
        { "K=${U:-${V:-x}}", "K", "x" },
        { "K=${U:-\"x y\"}", "K", "x y" },
        { "K=${U:-'x y'}", "K", "x y" },
        { "K=\"${U:-'x'}\"", "K", "'x'" },
        { "K=\"${U:-\"x y\"}\"", "K", "x y" },
        { "K=${U:-a b}", "K", "a b" },
        { "K=${U:- #x}", "K", " #x" },
        { "K=${U:-a;b}", "K", "a;b" },
        { "K=${U:-\\}}", "K", "}" },
        { "K=\"${U:-\\}}\"", "K", "}" },
        { "K=\"${U:-a\\'b}\"", "K", "a\\'b" },
        { "K=${U:-{x}y}", "K", "{xy}" },
        { "K=${U:-a\nb}", "K", "a\nb" },
        { "K=${U:-$}", "K", "$" },
        { "K=${U:-x}~", "K", "x~" },
        { "S=v\nK=${S:+alt}", "K", "alt" },
        { "S=v\nK=${S+alt}", "K", "alt" },
        { "E=\nK=${E:+alt}", "K", "" },
        { "E=\nK=${E+alt}", "K", "alt" },
        { "K=${U:+alt}", "K", "" },
        { "K=${U+alt}", "K", "" },
        { "K=a$", "K", "a$" },
        { "K=\"$\"", "K", "$" },
        { "K=$/", "K", "$/" },
        { "K=$:x", "K", "$:x" },
        { "K=\"cost $ 5\"", "K", "cost $ 5" },
        { "K=\"$\"x\"\"", "K", "$x" },
        { "K=\"$'x'\"", "K", "$'x'" },
        { "K=$=$,$%$.$+", "K", "$=$,$%$.$+" },
        { "K=*", "K", "*" },
        { "K=?", "K", "?" },
        { "K=[abc]*.txt", "K", "[abc]*.txt" },
        { "K={a,b}", "K", "{a,b}" },
        { "K={1..3}", "K", "{1..3}" },
        { "K=}", "K", "}" },
        { "K=a!b", "K", "a!b" },
        { "K=x~", "K", "x~" },
        { "K=a=~", "K", "a=~" },
        { "K=x\\:~", "K", "x:~" },
        { "K=\"~/x\"", "K", "~/x" },
        { "K=${U:-\"~\"}", "K", "~" },
        { "K=\"${U:-~}\"", "K", "~" },
        { "K=a~:b", "K", "a~:b" },
        { "A=1\nA+=2", "A", "12" },
        { "B+=x", "B", "x" },
        { "C=a\nC+=\"b c\"", "C", "ab c" },
        { "A=1\nexport A+=3", "A", "13" },
        { "K=caf\xc3\xa9", "K", "caf\xc3\xa9" },
        { "K=\xff\xfe", "K", "\xff\xfe" },
        { "K=x\x0by\x0c", "K", "x\x0by\x0c" },
        { "K=a\rb", "K", "a\rb" },
        /* $'...' and $"..." are quoting where bash makes them so (unquoted, and in
         * the word of ${VAR:-word} in or out of double quotes), literal text in
         * plain double quotes. */
        { "A=$'x'", "A", "x" },
        { "A=x$'a b'y", "A", "xa by" },
        { "A=$\"x\"", "A", "x" },
        { "B=1\nA=$\"x$B\"", "A", "x1" },
        { "A=\"$'x'\"", "A", "$'x'" },
        { "A=${U:-$'}'}", "A", "}" },
        { "A=\"${U:-$'x'}\"", "A", "x" },
        { "A=\"${U:-$\"x\"}\"", "A", "x" },
        { "A=\"${U:-$'a'b$'c'}\"", "A", "abc" },
        { "A=\"${U:-$\"a}\"}\"", "A", "a}" },
        { "A=\"${U:-${V:-$'x'}}\"", "A", "x" },
        { "A=\"${U:-\"$'x'\"}\"", "A", "$'x'" },
        /* In "${VAR:-word}" a "'" is literal yet quotes a "}" up to the next "'";
         * what is between is still expanded as double-quoted text. */
        { "A=\"${B:-'}'}\"", "A", "'}'" },
        { "A=\"${B:-'x'}\"", "A", "'x'" },
        { "B=1\nA=\"${U:-'$B'}\"", "A", "'1'" },
        { "B=1\nA=\"${B:+'}'}\"", "A", "'}'" },
        { "A=\"${B:+'}'}\"", "A", "" },
        { "A=\"${U:-'a b'}\"", "A", "'a b'" },
        { "A=\"${U:-'a\\'}\"", "A", "'a\\'" },
        { "A=\"${U:-'\\}'}\"", "A", "'}'" },
        { "A=\"${U:-'\\$B'}\"", "A", "'$B'" },
        { "A=\"${U:-'a\"}\"c'}\"", "A", "'a}c'" },
        { "A=\"${U:-'$'x''}\"", "A", "'$'x''" },
        { "A=\"${U:-'\n'}\"", "A", "'\n'" },
        { "A=\"${U:-a\\'b}\"", "A", "a\\'b" },
};

/* Each text assigns its key the value, with no warning. */
TEST(values) {
        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                _cleanup_(parsed_done) Parsed p = PARSE(values[i].text);

                test_context = values[i].text;
                ASSERT_STREQ(envfile_value(p.f, values[i].key), values[i].want);
                ASSERT_EQ(p.diags.n, 0);
        }
}

TEST(unassigned_warns) {
        _cleanup_(parsed_done) Parsed p = PARSE_EXPECT(
                "A=$NOPE\nB=\"x${LATER}\"\nLATER=1\nC=${U:-d}${U-e}${U:+f}\nD=${S:-$W}\nS=1\nE=${S:-$V}\n", "A=", "B=x",
                "C=de", "E=1");
        const Diag *d = p.diags.items;

        ASSERT_EQ(p.diags.n, 3); /* $NOPE, ${LATER}, and $W (evaluated); not $V */
        ASSERT_EQ(diag_count(&p.diags, DIAG_WARNING), 3);
        ASSERT_STREQ(d[0].message, "\"$NOPE\" is not assigned earlier in this file; it expands to an empty string");
        ASSERT_EQ(d[0].line, 1);
        ASSERT_EQ(d[0].col, 3);
        ASSERT_EQ(d[1].line, 2);
        ASSERT_EQ(d[1].col, 5);
        ASSERT_STREQ(d[2].message, "\"$W\" is not assigned earlier in this file; it expands to an empty string");
}

TEST(multiple_assignments) {
        _cleanup_(parsed_done) Parsed p = PARSE_EXPECT("A=1 B=2\nC=$A$B D=${C}x\nI= J=3\nG=1\tH=2 # c\n", "A=1", "B=2",
                                                       "D=12x", "I=", "J=3", "H=2");

        ASSERT_EQ(envfile_get(p.f, "B")->line, 1);
        ASSERT_EQ(envfile_get(p.f, "B")->col, 5);
}

TEST(export_expands_before_assigning) {
        /* export is a command: its arguments are expanded before it runs */
        _cleanup_(parsed_done) Parsed p = PARSE_EXPECT("A=0\nexport A=1 A+=2 B=$A\nexport C=1 D=$C\n", "A=12", "B=0", "D=");

        ASSERT_EQ(p.diags.n, 1);
}

TEST(long_line) {
        size_t n = 100000;
        _cleanup_free_ char *t = malloc(n + 3);
        _cleanup_(parsed_done) Parsed p = { 0 };

        ASSERT_TRUE(t);
        memcpy(t, "K=", 2);
        memset(t + 2, 'x', n);
        t[n + 2] = 0;
        p = PARSE(t);
        ASSERT_EQ(strlen(envfile_value(p.f, "K")), n);
}

TEST(not_nul_terminated) {
        _cleanup_(parsed_done) Parsed p = parse_n("A=12345", 3, NULL);

        ASSERT_STREQ(envfile_value(p.f, "A"), "1");
}

/* Every construct the parser refuses: the first error, where it is, and
 * that it has a hint. By kind: substitutions (one refused even where bash
 * would not run it), shell metacharacters, unterminated quotes and braces,
 * parameter expansions, special parameters and shell variables, quoting
 * forms, tilde, export forms, not an assignment, words after the value, and
 * the file level (CR line endings, a NUL byte). */
static const Refusal refusals[] = {
        { "A=$(id)", 1, 3,
          "command substitution \"$(\" is not allowed; values.env is not executed", 0 },
        { "A=`id`", 1, 3,
          "command substitution \"`\" is not allowed; values.env is not executed", 0 },
        { "A=\"x$(id)\"", 1, 5,
          "command substitution \"$(\" is not allowed; values.env is not executed", 0 },
        { "A=\"a`id`\"", 1, 5,
          "command substitution \"`\" is not allowed; values.env is not executed", 0 },
        { "A=${U:-$(x)}", 1, 8,
          "command substitution \"$(\" is not allowed; values.env is not executed", 0 },
        { "A=\"${U:-`x`}\"", 1, 9,
          "command substitution \"`\" is not allowed; values.env is not executed", 0 },
        { "A=$((1+2))", 1, 3,
          "arithmetic expansion \"$((\" is not allowed; values.env is not executed", 0 },
        { "A=$[1+2]", 1, 3,
          "arithmetic expansion \"$[\" is not allowed; values.env is not executed", 0 },
        /* refused even where bash would not run it: */
        { "S=1\nA=${S:-$(x)}", 2, 8,
          "command substitution \"$(\" is not allowed; values.env is not executed", 0 },
        { "A='x'$(id)", 1, 6,
          "command substitution \"$(\" is not allowed; values.env is not executed", 0 },
        { "URL=http://h/p?a=1&b=2", 1, 19,
          "unquoted \"&\": bash would start a background job there and run the rest of the line as a command", 0 },
        { "A=1; B=2", 1, 4,
          "unquoted \";\": bash would end the assignment there and run the rest of the line as a command", 0 },
        { "A=x|y", 1, 4,
          "unquoted \"|\": bash would pipe into a command there", 0 },
        { "A=x>y", 1, 4,
          "unquoted \">\": bash would redirect a file there", 0 },
        { "A=<y", 1, 3,
          "unquoted \"<\": bash would redirect a file there", 0 },
        { "A=(1 2)", 1, 3,
          "unquoted \"(\": it is shell syntax (a subshell, an array or a function)", 0 },
        { "A=x)", 1, 4,
          "unquoted \")\": it is shell syntax (a subshell, an array or a function)", 0 },
        { "A=1 &", 1, 5,
          "unquoted \"&\": bash would start a background job there and run the rest of the line as a command", 0 },
        { "(A=1)", 1, 1,
          "unquoted \"(\": it is shell syntax (a subshell, an array or a function)", 0 },
        { "A=1\nB=x\\\ny&z", 3, 2,
          "unquoted \"&\": bash would start a background job there and run the rest of the line as a command", 0 },
        { "A=1\nB='abc\nC=2\n", 2, 3,
          "unterminated single quote", 0 },
        { "A=\"abc\n", 1, 3,
          "unterminated double quote", 0 },
        { "A=\"abc\\\"", 1, 3,
          "unterminated double quote", 0 },
        { "A=x${B\n", 1, 4,
          "unterminated \"${\"", 0 },
        { "A=${B:-x", 1, 3,
          "unterminated \"${\"", 0 },
        { "A=${B:-${C}", 1, 3,
          "unterminated \"${\"", 0 },
        { "A=${B:-x\\}", 1, 3,
          "unterminated \"${\"", 0 },
        { "A=${", 1, 3,
          "unterminated \"${\"", 0 },
        { "A=${B:-'x}'", 1, 3,
          "unterminated \"${\"", 0 },
        { "A=${#B}", 1, 3,
          "parameter expansion \"${#\" is not supported", 0 },
        { "A=${!B}", 1, 3,
          "parameter expansion \"${!\" is not supported", 0 },
        { "A=${B/x/y}", 1, 3,
          "parameter expansion \"${B/\" is not supported", 0 },
        { "A=${B:=x}", 1, 3,
          "parameter expansion \"${B:=\" is not supported", 0 },
        { "A=${B=x}", 1, 3,
          "parameter expansion \"${B=\" is not supported", 0 },
        { "A=${B:?x}", 1, 3,
          "parameter expansion \"${B:?\" is not supported", 0 },
        { "A=${B%x}", 1, 3,
          "parameter expansion \"${B%\" is not supported", 0 },
        { "A=${B:1}", 1, 3,
          "parameter expansion \"${B:1\" is not supported", 0 },
        { "A=${}", 1, 3,
          "bad substitution: \"${\" must be followed by a variable name", 0 },
        { "A=${ B}", 1, 3,
          "bad substitution: \"${\" must be followed by a variable name", 0 },
        { "A=$1", 1, 3,
          "special parameter \"$1\" is not allowed; its value depends on the shell", 0 },
        { "A=x$$", 1, 4,
          "special parameter \"$$\" is not allowed; its value depends on the shell", 0 },
        { "A=\"$@\"", 1, 4,
          "special parameter \"$@\" is not allowed; its value depends on the shell", 0 },
        { "A=$?", 1, 3,
          "special parameter \"$?\" is not allowed; its value depends on the shell", 0 },
        { "A=$#", 1, 3,
          "special parameter \"$#\" is not allowed; its value depends on the shell", 0 },
        { "A=$-", 1, 3,
          "special parameter \"$-\" is not allowed; its value depends on the shell", 0 },
        { "A=$!", 1, 3,
          "special parameter \"$!\" is not allowed; its value depends on the shell", 0 },
        { "A=$*", 1, 3,
          "special parameter \"$*\" is not allowed; its value depends on the shell", 0 },
        { "A=$0", 1, 3,
          "special parameter \"$0\" is not allowed; its value depends on the shell", 0 },
        { "A=${1}", 1, 3,
          "special parameter \"$1\" is not allowed; its value depends on the shell", 0 },
        { "A=$_", 1, 3,
          "special parameter \"$_\" is not allowed; its value depends on the shell", 0 },
        { "A=${_}", 1, 3,
          "special parameter \"$_\" is not allowed; its value depends on the shell", 0 },
        { "A=$RANDOM", 1, 3,
          "shell variable \"$RANDOM\" is not allowed; its value depends on the shell", 0 },
        { "A=${UID:-0}", 1, 3,
          "shell variable \"$UID\" is not allowed; its value depends on the shell", 0 },
        { "UID=5", 1, 1,
          "\"UID\" is set by bash itself and cannot be assigned here", 0 },
        { "A=$'x\\ty'", 1, 3,
          "escape sequences in ANSI-C quoting \"$'...'\" are not supported", 0 },
        { "A=\"${U:-$'\\''}\"", 1, 9,
          "escape sequences in ANSI-C quoting \"$'...'\" are not supported", 0 },
        { "A=$'x", 1, 4,
          "unterminated single quote", 0 },
        { "TEXTDOMAIN=bash\nA=$\"x\"", 2, 3,
          "locale translation $\"...\" after TEXTDOMAIN is set: bash may translate it", 0 },
        { "A=~", 1, 3,
          "unquoted \"~\" at the start of a value or after \":\" is expanded by bash to a home directory", 0 },
        { "A=~/x", 1, 3,
          "unquoted \"~\" at the start of a value or after \":\" is expanded by bash to a home directory", 0 },
        { "A=~root", 1, 3,
          "unquoted \"~\" at the start of a value or after \":\" is expanded by bash to a home directory", 0 },
        { "DIRS=/a:~/b", 1, 9,
          "unquoted \"~\" at the start of a value or after \":\" is expanded by bash to a home directory", 0 },
        { "A=x\"\":~", 1, 7,
          "unquoted \"~\" at the start of a value or after \":\" is expanded by bash to a home directory", 0 },
        { "A=${U:-~}", 1, 8,
          "unquoted \"~\" at the start of a value or after \":\" is expanded by bash to a home directory", 0 },
        { "A=x${U:-a:~}", 1, 11,
          "unquoted \"~\" at the start of a value or after \":\" is expanded by bash to a home directory", 0 },
        { "A=\\\n~", 2, 1,
          "unquoted \"~\" at the start of a value or after \":\" is expanded by bash to a home directory", 0 },
        { "export\n", 1, 1,
          "\"export\" without an assignment is not supported", 0 },
        { "export # c\n", 1, 1,
          "\"export\" without an assignment is not supported", 0 },
        { "A=1\nexport A\n", 2, 8,
          "\"export KEY\" without \"=value\" is not supported", 0 },
        { "export -n A=1", 1, 8,
          "not a KEY=value assignment; values.env is not executed", 0 },
        { "export A={a,b}", 1, 10,
          "unquoted \"{\" after \"export\": bash may brace-expand it", 0 },
        { "export A=1 b", 1, 12,
          "unquoted blank ends the value: bash would export the next word as a variable name", 0 },
        { "echo hi", 1, 1,
          "not a KEY=value assignment; values.env is not executed", 0 },
        { "A=1\nsource other.env", 2, 1,
          "not a KEY=value assignment; values.env is not executed", 0 },
        { ". other.env", 1, 1,
          "not a KEY=value assignment; values.env is not executed", 0 },
        { "  [[ -n x ]]", 1, 3,
          "not a KEY=value assignment; values.env is not executed", 0 },
        { "=x", 1, 1,
          "not a KEY=value assignment; values.env is not executed", 0 },
        { "\"A\"=x", 1, 1,
          "invalid key name", 0 },
        { "KEY =v", 1, 4,
          "blank before \"=\": bash would run the key as a command", 0 },
        { "KEY\t+= v", 1, 4,
          "blank before \"=\": bash would run the key as a command", 0 },
        { "1A=x", 1, 1,
          "invalid key name", 0 },
        { "A-B=x", 1, 2,
          "invalid key name", 0 },
        { "A[0]=x", 1, 2,
          "invalid key name", 0 },
        { "A.B=x", 1, 2,
          "invalid key name", 0 },
        { "declare A=1", 1, 1,
          "not a KEY=value assignment; values.env is not executed", 0 },
        { "KEY=a b", 1, 7,
          "unquoted blank ends the value: bash would run the next word as a command", 0 },
        { "KEY= value", 1, 6,
          "blank after \"=\": bash would assign an empty value and run the next word as a command", 0 },
        { "A=1 B=2 c", 1, 9,
          "unquoted blank ends the value: bash would run the next word as a command", 0 },
        { "A=1 2B=3", 1, 5,
          "unquoted blank ends the value: bash would run the next word as a command", 0 },
        { "A=1\r\nB=2\r\n", 1, 4,
          "line ends with CR (DOS line ending); bash would keep the CR in the value", 0 },
        { "A=1\nB=2\r", 2, 4,
          "line ends with CR (DOS line ending); bash would keep the CR in the value", 0 },
        /* in "${VAR:-word}" a "'" quotes a "}" up to the next "'" */
        { "A=\"${U:-'x}\"\n", 1, 9,
          "unterminated single quote", 0 },
        { "A=1\nB=x\0y\n", 2, 4,
          "NUL byte in file", 9 },
};

TEST(refusals) {
        for (size_t i = 0; i < ELEMENTSOF(refusals); i++)
                check_error(&refusals[i]);
}

TEST(refuse_hint_names_key) {
        DiagList diags = { 0 };
        EnvFile *f = NULL;

        ASSERT_EQ(envfile_parse("t.env", "URL=a&b", 7, &f, &diags), -EINVAL);
        ASSERT_STREQ(diags.items[0].hint, "quote it with single quotes if it is meant literally: URL='...'");
        diag_list_clear(&diags);
}

TEST(refuse_too_large) {
        size_t n = 1024 * 1024 + 1;
        char *t = malloc(n);
        DiagList diags = { 0 };
        EnvFile *f = NULL;

        ASSERT_TRUE(t);
        memset(t, '#', n);
        ASSERT_EQ(envfile_parse("t.env", t, n, &f, &diags), -EINVAL);
        ASSERT_STREQ(diags.items[0].message, "file is larger than 1 MiB");
        ASSERT_EQ(diags.items[0].line, 0);
        diag_list_clear(&diags);
        ASSERT_OK(envfile_parse("t.env", t, n - 1, &f, &diags));
        envfile_free(f);
        free(t);
        diag_list_clear(&diags);
}

/* b's text is refused for the size of what it expands to. */
static void check_bomb(StrBuf *b) {
        DiagList diags = { 0 };
        EnvFile *f = NULL;
        char *t = strbuf_steal(b);

        ASSERT_TRUE(t);
        ASSERT_EQ(envfile_parse("t.env", t, strlen(t), &f, &diags), -EINVAL);
        ASSERT_STREQ(diag_first_error(&diags)->message, "expanded values exceed 16 MiB");
        free(t);
        diag_list_clear(&diags);
}

TEST(refuse_expansion_bomb) {
        StrBuf b = { 0 };

        strbuf_puts(&b, "A=xxxxxxxxxxxxxxxx\n");
        for (int i = 0; i < 40; i++)
                strbuf_puts(&b, "A=$A$A\n");
        check_bomb(&b);
}

TEST(refuse_append_bomb) {
        StrBuf b = { 0 };

        /* each A+= entry copies the value: 300 KiB x 100 lines is bounded too */
        strbuf_puts(&b, "A=");
        for (int i = 0; i < 300 * 1024; i++)
                strbuf_putc(&b, 'x');
        strbuf_putc(&b, '\n');
        for (int i = 0; i < 100; i++)
                strbuf_puts(&b, "A+=x\n");
        check_bomb(&b);
}

TEST(nesting_limit) {
        StrBuf b = { 0 };
        char *t;

        for (int depth = 32; depth <= 33; depth++) {
                DiagList diags = { 0 };
                EnvFile *f = NULL;
                int r;

                strbuf_puts(&b, "A=");
                for (int i = 0; i < depth; i++)
                        strbuf_puts(&b, "${U:-");
                strbuf_putc(&b, 'x');
                for (int i = 0; i < depth; i++)
                        strbuf_putc(&b, '}');
                t = strbuf_steal(&b);
                ASSERT_TRUE(t);
                r = envfile_parse("t.env", t, strlen(t), &f, &diags);
                if (depth == 32) {
                        ASSERT_OK(r);
                        ASSERT_STREQ(envfile_value(f, "A"), "x");
                        envfile_free(f);
                } else {
                        ASSERT_EQ(r, -EINVAL);
                        ASSERT_STREQ(diag_first_error(&diags)->message,
                                     "parameter expansions nested more than 32 deep");
                        ASSERT_EQ(diag_first_error(&diags)->col, 3 + 5 * 32);
                }
                free(t);
                diag_list_clear(&diags);
        }
}

TEST(messages_never_hold_values) {
        static const char *const bad[] = {
                "PASSWORD=s3cr3t&x", "PASSWORD=s3cr3t x", "PASSWORD=s3cr3t$(x)",
                "PASSWORD='s3cr3t", "PASSWORD=\"s3cr3t", "PASSWORD=s3cr3t;",
                "PASSWORD=s3cr3t${x", "PASSWORD=s3cr3t:~", "PASSWORD=s3cr3t$1",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                DiagList diags = { 0 };
                EnvFile *f = NULL;

                ASSERT_EQ(envfile_parse("t.env", bad[i], strlen(bad[i]), &f, &diags), -EINVAL);
                for (size_t j = 0; j < diags.n; j++) {
                        ASSERT_TRUE(!strstr(diags.items[j].message, "s3cr3t"));
                        ASSERT_TRUE(!diags.items[j].hint || !strstr(diags.items[j].hint, "s3cr3t"));
                }
                diag_list_clear(&diags);
        }
}

/* A FIFO, a directory or a device is refused at once, never read: opening
 * a FIFO for reading without O_NONBLOCK waits for a writer (the alarm turns
 * such a hang into a failure). */
TEST(refuse_not_regular) {
        char dir[] = "/tmp/test-envfile-XXXXXX";
        _cleanup_free_ char *fifo = NULL;
        const char *paths[3];

        ASSERT_TRUE(mkdtemp(dir));
        ASSERT_TRUE(asprintf(&fifo, "%s/values.env", dir) > 0);
        ASSERT_OK(mkfifo(fifo, 0600) < 0 ? -errno : 0);
        paths[0] = fifo, paths[1] = dir, paths[2] = "/dev/null";
        alarm(10);
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                _cleanup_(diag_list_clear) DiagList diags = { 0 };
                _cleanup_free_ char *text = NULL;
                EnvFile *f = NULL;
                size_t len = 0;

                ASSERT_EQ(envfile_read(paths[i], &text, &len, &diags), -EINVAL);
                ASSERT_NULL(text);
                ASSERT_EQ(diags.n, 1);
                ASSERT_STREQ(diags.items[0].message, "not a regular file");
                ASSERT_STREQ(diags.items[0].file, paths[i]);
                ASSERT_EQ(diags.items[0].line, 0);
                ASSERT_EQ(envfile_load(paths[i], &f, &diags), -EINVAL);
                ASSERT_NULL(f);
        }
        alarm(0);
        unlink(fifo);
        rmdir(dir);
}

/* Each entry knows the bytes of its value as written, quotes and all. */
TEST(value_spans) {
        const char *t = "A=x\n"
                        "export B='q r'  # c\n"
                        "C=\"a\nb\"\n"
                        "D=\n"
                        "E=1 E+=${A}y\n"
                        "F=\\\nz\n";
        static const struct {
                const char *raw;
                bool append;
        } want[] = { { "x", false }, { "'q r'", false }, { "\"a\nb\"", false }, { "", false },
                     { "1", false }, { "${A}y", true }, { "\\\nz", false } };
        _cleanup_(parsed_done) Parsed p = PARSE_EXPECT(t, "E=1xy", "F=z");

        ASSERT_EQ(p.f->n_entries, ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                const EnvEntry *e = &p.f->entries[i];
                ASSERT_TRUE(e->value_start <= e->value_end && e->value_end <= strlen(t));
                if (e->value_end - e->value_start != strlen(want[i].raw) ||
                    memcmp(t + e->value_start, want[i].raw, strlen(want[i].raw)) != 0)
                        TEST_FAIL("entry %zu (%s): span [%zu, %zu) is not \"%s\"", i, e->key, e->value_start,
                                  e->value_end, want[i].raw);
                ASSERT_EQ(e->append, want[i].append);
        }
}

TEST(load) {
        char path[] = "/tmp/test-envfile-XXXXXX";
        int fd = mkstemp(path);
        DiagList diags = { 0 };
        EnvFile *f = NULL;

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, "A=1\n", 4), 4);
        close(fd);
        ASSERT_OK(envfile_load(path, &f, &diags));
        ASSERT_STREQ(envfile_value(f, "A"), "1");
        ASSERT_STREQ(f->path, path);
        envfile_free(f);
        f = NULL;
        unlink(path);
        ASSERT_EQ(envfile_load(path, &f, &diags), -ENOENT);
        ASSERT_EQ(diags.n, 0);
        ASSERT_NULL(f);
        ASSERT_NULL(envfile_free(NULL));
}

TEST_MAIN(T(simple), T(export_prefix), T(blank_lines_and_comments), T(values), T(unassigned_warns),
          T(multiple_assignments), T(export_expands_before_assigning), T(long_line), T(not_nul_terminated),
          T(refusals), T(refuse_hint_names_key), T(refuse_too_large), T(refuse_expansion_bomb),
          T(refuse_append_bomb), T(nesting_limit), T(messages_never_hold_values), T(refuse_not_regular),
          T(value_spans), T(load))
