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

/* Parses text; the caller frees. Fails the test on a parse error. */
static EnvFile *parse_ok(const char *text, DiagList *diags) {
        EnvFile *f = NULL;
        int r = envfile_parse("t.env", text, strlen(text), &f, diags);

        if (r < 0) {
                const Diag *d = diag_first_error(diags);
                TEST_FAIL("parse failed: %d: %u:%u: %s", r, d ? d->line : 0, d ? d->col : 0,
                          d ? d->message : "(no diagnostic)");
        }
        ASSERT_TRUE(f);
        return f;
}

/* text assigns key=want, with no warning. */
static void check(const char *text, const char *key, const char *want) {
        DiagList diags = { 0 };
        EnvFile *f = parse_ok(text, &diags);

        ASSERT_STREQ(envfile_value(f, key), want);
        ASSERT_EQ(diags.n, 0);
        envfile_free(f);
        diag_list_clear(&diags);
}

/* text fails with its first error at line:col saying message. */
static void check_error(const char *text, size_t len, unsigned line, unsigned col, const char *message) {
        DiagList diags = { 0 };
        EnvFile *f = NULL;
        const Diag *d;

        ASSERT_EQ(envfile_parse("t.env", text, len, &f, &diags), -EINVAL);
        ASSERT_NULL(f);
        d = diag_first_error(&diags);
        ASSERT_TRUE(d);
        ASSERT_STREQ(d->message, message);
        ASSERT_EQ(d->line, line);
        ASSERT_EQ(d->col, col);
        ASSERT_STREQ(d->file, "t.env");
        ASSERT_TRUE(d->hint);
        diag_list_clear(&diags);
}
#define ERR(text, line, col, message) check_error(text, strlen(text), line, col, message)

#define CMDSUBST "command substitution \"$(\" is not allowed; values.env is not executed"
#define BACKTICK "command substitution \"`\" is not allowed; values.env is not executed"
#define TILDE "unquoted \"~\" at the start of a value or after \":\" is expanded by bash to a home directory"
#define UNTERM_BRACE "unterminated \"${\""
#define NOT_ASSIGN "not a KEY=value assignment; values.env is not executed"

TEST(simple) {
        DiagList diags = { 0 };
        EnvFile *f = parse_ok("A=1\nNAMESPACE=nap\n  B=x.y-z_\n", &diags);

        ASSERT_EQ(f->n_entries, 3);
        ASSERT_STREQ(f->entries[0].key, "A");
        ASSERT_STREQ(f->entries[1].value, "nap");
        ASSERT_EQ(f->entries[2].line, 3);
        ASSERT_EQ(f->entries[2].col, 3);
        ASSERT_EQ(f->entries[2].value_col, 5);
        ASSERT_TRUE(!f->entries[2].exported);
        ASSERT_STREQ(f->path, "t.env");
        ASSERT_NULL(envfile_value(f, "C"));
        ASSERT_NULL(envfile_get(f, "C"));
        envfile_free(f);
        diag_list_clear(&diags);
}

TEST(export_prefix) {
        DiagList diags = { 0 };
        EnvFile *f = parse_ok("export A=1\nexport  B=2\n\texport\tC=3\nexported=4\nexport=5\n", &diags);

        ASSERT_EQ(f->n_entries, 5);
        ASSERT_TRUE(f->entries[0].exported);
        ASSERT_TRUE(f->entries[1].exported);
        ASSERT_STREQ(f->entries[1].value, "2");
        ASSERT_EQ(f->entries[1].col, 9);
        ASSERT_TRUE(f->entries[2].exported);
        ASSERT_TRUE(!f->entries[3].exported);
        ASSERT_STREQ(envfile_value(f, "exported"), "4");
        ASSERT_STREQ(envfile_value(f, "export"), "5");
        envfile_free(f);
        diag_list_clear(&diags);
}

TEST(blank_lines_and_comments) {
        DiagList diags = { 0 };
        EnvFile *f = parse_ok("\n# c\n   # indented\n\t#tab\n\n  \t \nA=1\n#B=2\n", &diags);

        ASSERT_EQ(f->n_entries, 1);
        ASSERT_EQ(f->entries[0].line, 7);
        envfile_free(f);
        f = parse_ok("", &diags);
        ASSERT_EQ(f->n_entries, 0);
        envfile_free(f);
        diag_list_clear(&diags);
}

TEST(inline_comments) {
        check("LDAP_ATTR_NAME=   # [ cn ]\n", "LDAP_ATTR_NAME", "");
        check("K=foo # note\n", "K", "foo");
        check("K=foo\t# note\n", "K", "foo");
        check("K=x # c # d", "K", "x");
        check("K=a#b\n", "K", "a#b");
        check("K=#x\n", "K", "#x");
        check("K=\"x\"#y\n", "K", "x#y");
        check("K=\"# not\" # yes\n", "K", "# not");
        check("K=\\#x\n", "K", "#x");
        check("K=   \n", "K", "");
}

TEST(single_quotes) {
        check("K='a b $X \"q\" ${Y} `z` $(w) \\n'\n", "K", "a b $X \"q\" ${Y} `z` $(w) \\n");
        check("K='multi\nline'\nL=2\n", "K", "multi\nline");
        check("K='a;b|c&d<e>f(g)'", "K", "a;b|c&d<e>f(g)");
        check("K=''", "K", "");
        check("K='it'\\''s'", "K", "it's");
        check("K='~'", "K", "~");
        check("K='a\\\nb'", "K", "a\\\nb");
}

TEST(double_quotes) {
        check("K=\"a b\"", "K", "a b");
        check("K=\"a\\qb\"", "K", "a\\qb");
        check("K=\"\\\\\"", "K", "\\");
        check("K=\"\\$x\"", "K", "$x");
        check("K=\"\\`\"", "K", "`");
        check("K=\"\\\"\"", "K", "\"");
        check("K=\"a\\\nb\"", "K", "ab");
        check("K=\"x\ny\"", "K", "x\ny");
        check("K=\"'\"", "K", "'");
        check("K=\"\\n\"", "K", "\\n");
        check("K=\"a;b&c|d<e>(f) * ? [x] ~\"", "K", "a;b&c|d<e>(f) * ? [x] ~");
}

TEST(unquoted_backslash) {
        check("K=a\\ b", "K", "a b");
        check("K=\\$x", "K", "$x");
        check("K=a\\\\b", "K", "a\\b");
        check("K=a\\qb", "K", "aqb");
        check("K=x\\;y\\&z", "K", "x;y&z");
        check("K=foo\\", "K", "foo\\");
        check("K=\\~", "K", "~");
}

TEST(line_continuation) {
        check("K=foo\\\nbar\n", "K", "foobar");
        check("export \\\nK=1\n", "K", "1");
        check("K\\\n=2\n", "K", "2");
        check("A\\\nB=3\n", "AB", "3");
        check("K=x \\\n# comment\n", "K", "x");
        check("# comment \\\nK=1\n", "K", "1");
        check("K=1 # comment \\\nL=2\n", "L", "2");
}

TEST(concatenation) {
        check("K=a\"b\"'c'd", "K", "abcd");
        check("K=''\"\"x''", "K", "x");
        check("A=v\nK=pre\"$A\"'$A'post", "K", "prev$Apost");
}

TEST(expansion) {
        check("A=x\nK=$A", "K", "x");
        check("A=x\nK=${A}", "K", "x");
        check("A=x\nK=pre${A}post", "K", "prexpost");
        check("A=x\nK=$A/$A.$A-$A:$A", "K", "x/x.x-x:x");
        check("A=x\nK=\"$A $A\"", "K", "x x");
        check("A=x\nA=y\nK=$A", "K", "y");
        check("Q='a b;c ~ $X'\nK=$Q", "K", "a b;c ~ $X");
        check("REGISTRY=r.io\nAPP_PREFIX=nap\nK=${REGISTRY}/${APP_PREFIX}", "K", "r.io/nap");
}

TEST(expansion_defaults) {
        check("K=${U:-d}", "K", "d");
        check("K=${U-d}", "K", "d");
        check("E=\nK=${E:-d}", "K", "d");
        check("E=\nK=${E-d}", "K", "");
        check("S=v\nK=${S:-d}", "K", "v");
        check("S=v\nK=${S-d}", "K", "v");
        check("K=${U:-}", "K", "");
        check("B=b\nK=${U:-${B:-x}}", "K", "b");
        check("K=${U:-${V:-x}}", "K", "x");
        check("K=${U:-\"x y\"}", "K", "x y");
        check("K=${U:-'x y'}", "K", "x y");
        check("K=\"${U:-'x'}\"", "K", "'x'");
        check("K=\"${U:-\"x y\"}\"", "K", "x y");
        check("K=${U:-a b}", "K", "a b");
        check("K=${U:- #x}", "K", " #x");
        check("K=${U:-a;b}", "K", "a;b");
        check("K=${U:-\\}}", "K", "}");
        check("K=\"${U:-\\}}\"", "K", "}");
        check("K=\"${U:-a\\'b}\"", "K", "a\\'b");
        check("K=${U:-{x}y}", "K", "{xy}");
        check("K=${U:-a\nb}", "K", "a\nb");
        check("K=${U:-$}", "K", "$");
        check("K=${U:-x}~", "K", "x~");
}

TEST(expansion_alternate) {
        check("S=v\nK=${S:+alt}", "K", "alt");
        check("S=v\nK=${S+alt}", "K", "alt");
        check("E=\nK=${E:+alt}", "K", "");
        check("E=\nK=${E+alt}", "K", "alt");
        check("K=${U:+alt}", "K", "");
        check("K=${U+alt}", "K", "");
}

TEST(unassigned_warns) {
        DiagList diags = { 0 };
        EnvFile *f = parse_ok("A=$NOPE\nB=\"x${LATER}\"\nLATER=1\nC=${U:-d}${U-e}${U:+f}\nD=${S:-$W}\nS=1\nE=${S:-$V}\n",
                              &diags);

        ASSERT_STREQ(envfile_value(f, "A"), "");
        ASSERT_STREQ(envfile_value(f, "B"), "x");
        ASSERT_STREQ(envfile_value(f, "C"), "de");
        ASSERT_STREQ(envfile_value(f, "E"), "1");
        ASSERT_EQ(diags.n, 3); /* $NOPE, ${LATER}, and $W (evaluated); not $V */
        ASSERT_EQ(diag_count(&diags, DIAG_WARNING), 3);
        ASSERT_STREQ(diags.items[0].message,
                     "\"$NOPE\" is not assigned earlier in this file; it expands to an empty string");
        ASSERT_EQ(diags.items[0].line, 1);
        ASSERT_EQ(diags.items[0].col, 3);
        ASSERT_EQ(diags.items[1].line, 2);
        ASSERT_EQ(diags.items[1].col, 5);
        ASSERT_STREQ(diags.items[2].message,
                     "\"$W\" is not assigned earlier in this file; it expands to an empty string");
        envfile_free(f);
        diag_list_clear(&diags);
}

TEST(dollar_literal) {
        check("K=a$", "K", "a$");
        check("K=\"$\"", "K", "$");
        check("K=$/", "K", "$/");
        check("K=$:x", "K", "$:x");
        check("K=\"cost $ 5\"", "K", "cost $ 5");
        check("K=\"$\"x\"\"", "K", "$x");
        check("K=\"$'x'\"", "K", "$'x'");
        check("K=$=$,$%$.$+", "K", "$=$,$%$.$+");
}

TEST(glob_and_brace_literals) {
        check("K=*", "K", "*");
        check("K=?", "K", "?");
        check("K=[abc]*.txt", "K", "[abc]*.txt");
        check("K={a,b}", "K", "{a,b}");
        check("K={1..3}", "K", "{1..3}");
        check("K=}", "K", "}");
        check("K=a!b", "K", "a!b");
}

TEST(tilde_literal) {
        check("K=x~", "K", "x~");
        check("K=a=~", "K", "a=~");
        check("K=x\\:~", "K", "x:~");
        check("K=\"~/x\"", "K", "~/x");
        check("K=${U:-\"~\"}", "K", "~");
        check("K=\"${U:-~}\"", "K", "~");
        check("K=a~:b", "K", "a~:b");
}

TEST(multiple_assignments) {
        DiagList diags = { 0 };
        EnvFile *f = parse_ok("A=1 B=2\nC=$A$B D=${C}x\nI= J=3\nG=1\tH=2 # c\n", &diags);

        ASSERT_STREQ(envfile_value(f, "A"), "1");
        ASSERT_STREQ(envfile_value(f, "B"), "2");
        ASSERT_STREQ(envfile_value(f, "D"), "12x");
        ASSERT_STREQ(envfile_value(f, "I"), "");
        ASSERT_STREQ(envfile_value(f, "J"), "3");
        ASSERT_STREQ(envfile_value(f, "H"), "2");
        ASSERT_EQ(envfile_get(f, "B")->line, 1);
        ASSERT_EQ(envfile_get(f, "B")->col, 5);
        envfile_free(f);
        diag_list_clear(&diags);
}

TEST(export_expands_before_assigning) {
        DiagList diags = { 0 };
        /* export is a command: its arguments are expanded before it runs */
        EnvFile *f = parse_ok("A=0\nexport A=1 A+=2 B=$A\nexport C=1 D=$C\n", &diags);

        ASSERT_STREQ(envfile_value(f, "A"), "12");
        ASSERT_STREQ(envfile_value(f, "B"), "0");
        ASSERT_STREQ(envfile_value(f, "D"), "");
        ASSERT_EQ(diags.n, 1);
        envfile_free(f);
        diag_list_clear(&diags);
}

TEST(append) {
        check("A=1\nA+=2", "A", "12");
        check("B+=x", "B", "x");
        check("C=a\nC+=\"b c\"", "C", "ab c");
        check("A=1\nexport A+=3", "A", "13");
}

TEST(bytes) {
        check("K=caf\xc3\xa9", "K", "caf\xc3\xa9");
        check("K=\xff\xfe", "K", "\xff\xfe");
        check("K=x\x0by\x0c", "K", "x\x0by\x0c");
        check("K=a\rb", "K", "a\rb");
}

TEST(long_line) {
        size_t n = 100000;
        char *t = malloc(n + 3);
        DiagList diags = { 0 };
        EnvFile *f;

        ASSERT_TRUE(t);
        memcpy(t, "K=", 2);
        memset(t + 2, 'x', n);
        t[n + 2] = 0;
        f = parse_ok(t, &diags);
        ASSERT_EQ(strlen(envfile_value(f, "K")), n);
        envfile_free(f);
        free(t);
        diag_list_clear(&diags);
}

TEST(not_nul_terminated) {
        DiagList diags = { 0 };
        EnvFile *f = NULL;

        ASSERT_OK(envfile_parse("t.env", "A=12345", 3, &f, &diags));
        ASSERT_STREQ(envfile_value(f, "A"), "1");
        envfile_free(f);
        diag_list_clear(&diags);
}

TEST(refuse_substitutions) {
        ERR("A=$(id)", 1, 3, CMDSUBST);
        ERR("A=`id`", 1, 3, BACKTICK);
        ERR("A=\"x$(id)\"", 1, 5, CMDSUBST);
        ERR("A=\"a`id`\"", 1, 5, BACKTICK);
        ERR("A=${U:-$(x)}", 1, 8, CMDSUBST);
        ERR("A=\"${U:-`x`}\"", 1, 9, BACKTICK);
        ERR("A=$((1+2))", 1, 3, "arithmetic expansion \"$((\" is not allowed; values.env is not executed");
        ERR("A=$[1+2]", 1, 3, "arithmetic expansion \"$[\" is not allowed; values.env is not executed");
        ERR("S=1\nA=${S:-$(x)}", 2, 8, CMDSUBST); /* refused even where bash would not run it */
        ERR("A='x'$(id)", 1, 6, CMDSUBST);
}

TEST(refuse_metachars) {
        ERR("URL=http://h/p?a=1&b=2", 1, 19,
            "unquoted \"&\": bash would start a background job there and run the rest of the line as a command");
        ERR("A=1; B=2", 1, 4,
            "unquoted \";\": bash would end the assignment there and run the rest of the line as a command");
        ERR("A=x|y", 1, 4, "unquoted \"|\": bash would pipe into a command there");
        ERR("A=x>y", 1, 4, "unquoted \">\": bash would redirect a file there");
        ERR("A=<y", 1, 3, "unquoted \"<\": bash would redirect a file there");
        ERR("A=(1 2)", 1, 3, "unquoted \"(\": it is shell syntax (a subshell, an array or a function)");
        ERR("A=x)", 1, 4, "unquoted \")\": it is shell syntax (a subshell, an array or a function)");
        ERR("A=1 &", 1, 5,
            "unquoted \"&\": bash would start a background job there and run the rest of the line as a command");
        ERR("(A=1)", 1, 1, "unquoted \"(\": it is shell syntax (a subshell, an array or a function)");
        ERR("A=1\nB=x\\\ny&z", 3, 2,
            "unquoted \"&\": bash would start a background job there and run the rest of the line as a command");
}

TEST(refuse_hint_names_key) {
        DiagList diags = { 0 };
        EnvFile *f = NULL;

        ASSERT_EQ(envfile_parse("t.env", "URL=a&b", 7, &f, &diags), -EINVAL);
        ASSERT_STREQ(diags.items[0].hint, "quote it with single quotes if it is meant literally: URL='...'");
        diag_list_clear(&diags);
}

TEST(refuse_unterminated) {
        ERR("A=1\nB='abc\nC=2\n", 2, 3, "unterminated single quote");
        ERR("A=\"abc\n", 1, 3, "unterminated double quote");
        ERR("A=\"abc\\\"", 1, 3, "unterminated double quote");
        ERR("A=x${B\n", 1, 4, UNTERM_BRACE);
        ERR("A=${B:-x", 1, 3, UNTERM_BRACE);
        ERR("A=${B:-${C}", 1, 3, UNTERM_BRACE);
        ERR("A=${B:-x\\}", 1, 3, UNTERM_BRACE);
        ERR("A=${", 1, 3, UNTERM_BRACE);
        ERR("A=${B:-'x}'", 1, 3, UNTERM_BRACE);
}

TEST(refuse_parameter_expansions) {
        ERR("A=${#B}", 1, 3, "parameter expansion \"${#\" is not supported");
        ERR("A=${!B}", 1, 3, "parameter expansion \"${!\" is not supported");
        ERR("A=${B/x/y}", 1, 3, "parameter expansion \"${B/\" is not supported");
        ERR("A=${B:=x}", 1, 3, "parameter expansion \"${B:=\" is not supported");
        ERR("A=${B=x}", 1, 3, "parameter expansion \"${B=\" is not supported");
        ERR("A=${B:?x}", 1, 3, "parameter expansion \"${B:?\" is not supported");
        ERR("A=${B%x}", 1, 3, "parameter expansion \"${B%\" is not supported");
        ERR("A=${B:1}", 1, 3, "parameter expansion \"${B:1\" is not supported");
        ERR("A=${}", 1, 3, "bad substitution: \"${\" must be followed by a variable name");
        ERR("A=${ B}", 1, 3, "bad substitution: \"${\" must be followed by a variable name");
}

TEST(refuse_special_parameters) {
        ERR("A=$1", 1, 3, "special parameter \"$1\" is not allowed; its value depends on the shell");
        ERR("A=x$$", 1, 4, "special parameter \"$$\" is not allowed; its value depends on the shell");
        ERR("A=\"$@\"", 1, 4, "special parameter \"$@\" is not allowed; its value depends on the shell");
        ERR("A=$?", 1, 3, "special parameter \"$?\" is not allowed; its value depends on the shell");
        ERR("A=$#", 1, 3, "special parameter \"$#\" is not allowed; its value depends on the shell");
        ERR("A=$-", 1, 3, "special parameter \"$-\" is not allowed; its value depends on the shell");
        ERR("A=$!", 1, 3, "special parameter \"$!\" is not allowed; its value depends on the shell");
        ERR("A=$*", 1, 3, "special parameter \"$*\" is not allowed; its value depends on the shell");
        ERR("A=$0", 1, 3, "special parameter \"$0\" is not allowed; its value depends on the shell");
        ERR("A=${1}", 1, 3, "special parameter \"$1\" is not allowed; its value depends on the shell");
        ERR("A=$_", 1, 3, "special parameter \"$_\" is not allowed; its value depends on the shell");
        ERR("A=${_}", 1, 3, "special parameter \"$_\" is not allowed; its value depends on the shell");
        ERR("A=$RANDOM", 1, 3, "shell variable \"$RANDOM\" is not allowed; its value depends on the shell");
        ERR("A=${UID:-0}", 1, 3, "shell variable \"$UID\" is not allowed; its value depends on the shell");
        ERR("UID=5", 1, 1, "\"UID\" is set by bash itself and cannot be assigned here");
}

/* $'...' and $"..." are quoting where bash makes them so (unquoted, and in
 * the word of ${VAR:-word} in or out of double quotes), literal text in
 * plain double quotes. */
TEST(dollar_quotes) {
        check("A=$'x'", "A", "x");
        check("A=x$'a b'y", "A", "xa by");
        check("A=$\"x\"", "A", "x");
        check("B=1\nA=$\"x$B\"", "A", "x1");
        check("A=\"$'x'\"", "A", "$'x'");
        check("A=${U:-$'}'}", "A", "}");
        check("A=\"${U:-$'x'}\"", "A", "x");
        check("A=\"${U:-$\"x\"}\"", "A", "x");
        check("A=\"${U:-$'a'b$'c'}\"", "A", "abc");
        check("A=\"${U:-$\"a}\"}\"", "A", "a}");
        check("A=\"${U:-${V:-$'x'}}\"", "A", "x");
        check("A=\"${U:-\"$'x'\"}\"", "A", "$'x'");
}

/* In "${VAR:-word}" a "'" is literal yet quotes a "}" up to the next "'";
 * what is between is still expanded as double-quoted text. */
TEST(single_quote_in_brace_dq) {
        check("A=\"${B:-'}'}\"", "A", "'}'");
        check("A=\"${B:-'x'}\"", "A", "'x'");
        check("B=1\nA=\"${U:-'$B'}\"", "A", "'1'");
        check("B=1\nA=\"${B:+'}'}\"", "A", "'}'");
        check("A=\"${B:+'}'}\"", "A", "");
        check("A=\"${U:-'a b'}\"", "A", "'a b'");
        check("A=\"${U:-'a\\'}\"", "A", "'a\\'");
        check("A=\"${U:-'\\}'}\"", "A", "'}'");
        check("A=\"${U:-'\\$B'}\"", "A", "'$B'");
        check("A=\"${U:-'a\"}\"c'}\"", "A", "'a}c'");
        check("A=\"${U:-'$'x''}\"", "A", "'$'x''");
        check("A=\"${U:-'\n'}\"", "A", "'\n'");
        check("A=\"${U:-a\\'b}\"", "A", "a\\'b");
        ERR("A=\"${U:-'x}\"\n", 1, 9, "unterminated single quote");
}

TEST(refuse_quoting_forms) {
        ERR("A=$'x\\ty'", 1, 3, "escape sequences in ANSI-C quoting \"$'...'\" are not supported");
        ERR("A=\"${U:-$'\\''}\"", 1, 9, "escape sequences in ANSI-C quoting \"$'...'\" are not supported");
        ERR("A=$'x", 1, 4, "unterminated single quote");
        ERR("TEXTDOMAIN=bash\nA=$\"x\"", 2, 3,
            "locale translation $\"...\" after TEXTDOMAIN is set: bash may translate it");
}

TEST(refuse_tilde) {
        ERR("A=~", 1, 3, TILDE);
        ERR("A=~/x", 1, 3, TILDE);
        ERR("A=~root", 1, 3, TILDE);
        ERR("DIRS=/a:~/b", 1, 9, TILDE);
        ERR("A=x\"\":~", 1, 7, TILDE);
        ERR("A=${U:-~}", 1, 8, TILDE);
        ERR("A=x${U:-a:~}", 1, 11, TILDE);
        ERR("A=\\\n~", 2, 1, TILDE);
}

TEST(refuse_export_forms) {
        ERR("export\n", 1, 1, "\"export\" without an assignment is not supported");
        ERR("export # c\n", 1, 1, "\"export\" without an assignment is not supported");
        ERR("A=1\nexport A\n", 2, 8, "\"export KEY\" without \"=value\" is not supported");
        ERR("export -n A=1", 1, 8, NOT_ASSIGN);
        ERR("export A={a,b}", 1, 10, "unquoted \"{\" after \"export\": bash may brace-expand it");
        ERR("export A=1 b", 1, 12, "unquoted blank ends the value: bash would export the next word as a variable name");
}

TEST(refuse_not_assignment) {
        ERR("echo hi", 1, 1, NOT_ASSIGN);
        ERR("A=1\nsource other.env", 2, 1, NOT_ASSIGN);
        ERR(". other.env", 1, 1, NOT_ASSIGN);
        ERR("  [[ -n x ]]", 1, 3, NOT_ASSIGN);
        ERR("=x", 1, 1, NOT_ASSIGN);
        ERR("\"A\"=x", 1, 1, "invalid key name");
        ERR("KEY =v", 1, 4, "blank before \"=\": bash would run the key as a command");
        ERR("KEY\t+= v", 1, 4, "blank before \"=\": bash would run the key as a command");
        ERR("1A=x", 1, 1, "invalid key name");
        ERR("A-B=x", 1, 2, "invalid key name");
        ERR("A[0]=x", 1, 2, "invalid key name");
        ERR("A.B=x", 1, 2, "invalid key name");
        ERR("declare A=1", 1, 1, NOT_ASSIGN);
}

TEST(refuse_words_after_value) {
        ERR("KEY=a b", 1, 7, "unquoted blank ends the value: bash would run the next word as a command");
        ERR("KEY= value", 1, 6,
            "blank after \"=\": bash would assign an empty value and run the next word as a command");
        ERR("A=1 B=2 c", 1, 9, "unquoted blank ends the value: bash would run the next word as a command");
        ERR("A=1 2B=3", 1, 5, "unquoted blank ends the value: bash would run the next word as a command");
}

TEST(refuse_file_level) {
        ERR("A=1\r\nB=2\r\n", 1, 4, "line ends with CR (DOS line ending); bash would keep the CR in the value");
        ERR("A=1\nB=2\r", 2, 4, "line ends with CR (DOS line ending); bash would keep the CR in the value");
        check_error("A=1\nB=x\0y\n", 9, 2, 4, "NUL byte in file");
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

TEST(refuse_expansion_bomb) {
        StrBuf b = { 0 };
        DiagList diags = { 0 };
        EnvFile *f = NULL;
        char *t;

        strbuf_puts(&b, "A=xxxxxxxxxxxxxxxx\n");
        for (int i = 0; i < 40; i++)
                strbuf_puts(&b, "A=$A$A\n");
        t = strbuf_steal(&b);
        ASSERT_TRUE(t);
        ASSERT_EQ(envfile_parse("t.env", t, strlen(t), &f, &diags), -EINVAL);
        ASSERT_STREQ(diag_first_error(&diags)->message, "expanded values exceed 16 MiB");
        free(t);
        diag_list_clear(&diags);
}

TEST(refuse_append_bomb) {
        StrBuf b = { 0 };
        DiagList diags = { 0 };
        EnvFile *f = NULL;
        char *t;

        /* each A+= entry copies the value: 300 KiB x 100 lines is bounded too */
        strbuf_puts(&b, "A=");
        for (int i = 0; i < 300 * 1024; i++)
                strbuf_putc(&b, 'x');
        strbuf_putc(&b, '\n');
        for (int i = 0; i < 100; i++)
                strbuf_puts(&b, "A+=x\n");
        t = strbuf_steal(&b);
        ASSERT_TRUE(t);
        ASSERT_EQ(envfile_parse("t.env", t, strlen(t), &f, &diags), -EINVAL);
        ASSERT_STREQ(diag_first_error(&diags)->message, "expanded values exceed 16 MiB");
        free(t);
        diag_list_clear(&diags);
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
        DiagList diags = { 0 };
        EnvFile *f = parse_ok(t, &diags);

        ASSERT_EQ(f->n_entries, ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                const EnvEntry *e = &f->entries[i];
                ASSERT_TRUE(e->value_start <= e->value_end && e->value_end <= strlen(t));
                if (e->value_end - e->value_start != strlen(want[i].raw) ||
                    memcmp(t + e->value_start, want[i].raw, strlen(want[i].raw)) != 0)
                        TEST_FAIL("entry %zu (%s): span [%zu, %zu) is not \"%s\"", i, e->key, e->value_start,
                                  e->value_end, want[i].raw);
                ASSERT_EQ(e->append, want[i].append);
        }
        ASSERT_STREQ(envfile_value(f, "E"), "1xy");
        ASSERT_STREQ(envfile_value(f, "F"), "z");
        envfile_free(f);
        diag_list_clear(&diags);
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

TEST_MAIN(T(simple), T(export_prefix), T(blank_lines_and_comments), T(inline_comments),
          T(single_quotes), T(double_quotes), T(unquoted_backslash), T(line_continuation),
          T(concatenation), T(expansion), T(expansion_defaults), T(expansion_alternate),
          T(unassigned_warns), T(dollar_literal), T(glob_and_brace_literals), T(tilde_literal),
          T(multiple_assignments), T(export_expands_before_assigning), T(append), T(bytes),
          T(long_line), T(not_nul_terminated), T(refuse_substitutions), T(refuse_metachars),
          T(refuse_hint_names_key), T(refuse_unterminated), T(refuse_parameter_expansions),
          T(refuse_special_parameters), T(dollar_quotes), T(single_quote_in_brace_dq), T(refuse_quoting_forms), T(refuse_tilde),
          T(refuse_export_forms), T(refuse_not_assignment), T(refuse_words_after_value),
          T(refuse_file_level), T(refuse_too_large), T(refuse_expansion_bomb),
          T(refuse_append_bomb), T(nesting_limit),
          T(messages_never_hold_values), T(refuse_not_regular), T(value_spans), T(load))
