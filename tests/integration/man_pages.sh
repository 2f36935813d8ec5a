#!/bin/sh
# man_pages.sh - the man pages and the bash completion cannot drift from the program: every
# option that `mailpulse --help` and each `mailpulse CMD --help` print is in mailpulse(8) and
# in the completion, every option of mailpulse(8)'s OPTIONS is in some --help, every key the
# configuration reader accepts is in mailpulse.conf(5) and back, and both pages render
# without a warning from man/groff.
set -u
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MAN8=$ROOT/man/mailpulse.8
MAN5=$ROOT/man/mailpulse.conf.5
COMMANDS="parse report import serve db sniff bounce"

"$BIN" --help >"$WORK/help.main" 2>&1
for c in $COMMANDS; do
    "$BIN" "$c" --help >"$WORK/help.$c" 2>&1 || not_ok "mailpulse $c --help exits 0"
done

# options FILE...: the option names in text (roff escapes undone), one per line, sorted
options() {
    python3 - "$@" <<'PY'
import re, sys
names = set()
for path in sys.argv[1:]:
    text = open(path).read()
    text = re.sub(r'\\f[BIRP]', '', text).replace('\\-', '-')
    # an option starts a word: after a blank, '[', '(', '|', ',' or a line start;
    # "-24h" (a relative time) and "pflogsumm-style" are not options
    for m in re.finditer(r'(?:^|(?<=[\s\[(|,]))(--?[A-Za-z][A-Za-z0-9-]*)', text, re.M):
        names.add(m.group(1).rstrip('-'))
print("\n".join(sorted(names)))
PY
}

# man_section FILE NAME: the lines of one .SH section
man_section() {
    awk -v want="$2" '/^\.SH/ { on = ($0 ~ "^\\.SH \"?" want) ; next } on' "$1"
}

options "$WORK"/help.* >"$WORK/help.opts"
options "$MAN8" >"$WORK/man.all"
man_section "$MAN8" OPTIONS >"$WORK/man.options"
options "$WORK/man.options" >"$WORK/man.opts"

n=$(wc -l <"$WORK/help.opts")
if [ "$n" -ge 30 ]; then ok "the --help texts name $n options"; else
    not_ok "the --help texts name only $n options (the extraction is broken)"; fi
missing=$(comm -23 "$WORK/help.opts" "$WORK/man.all" | tr '\n' ' ')
check_eq "every --help option is in mailpulse(8)" "" "$missing"
extra=$(comm -13 "$WORK/help.opts" "$WORK/man.opts" | tr '\n' ' ')
check_eq "every option of mailpulse(8) OPTIONS is in some --help" "" "$extra"
undocumented=$(comm -23 "$WORK/help.opts" "$WORK/man.opts" | tr '\n' ' ')
check_eq "every --help option is described under OPTIONS" "" "$undocumented"

# Each command has its entry under COMMANDS.
for c in $COMMANDS; do
    if man_section "$MAN8" COMMANDS | grep -A1 '^\.TP' | grep -q "^\.BI\? \"\?$c\b"; then
        ok "mailpulse(8) COMMANDS describes $c"
    else
        not_ok "mailpulse(8) COMMANDS describes $c"
    fi
done

# The completion: for each command, its --help options appear in its case branch.
comp=$ROOT/contrib/bash-completion/mailpulse
bad=""
for c in $COMMANDS; do
    options "$WORK/help.$c" >"$WORK/c.want"
    awk -v c="$c" '$0 ~ "^    " c "\\)" { on = 1 } on { print } on && /;;/ { exit }' "$comp" |
        tr ' "' '\n\n' | grep '^-' | sort -u >"$WORK/c.have"
    m=$(comm -23 "$WORK/c.want" "$WORK/c.have" | grep -v '^-h$' | tr '\n' ' ')
    [ -n "$m" ] && bad="$bad $c:$m"
done
check_eq "the bash completion offers every option of each command" "" "$bad"
check "the bash completion is valid bash" bash -n "$comp"
if bash -c ". '$comp'; COMP_WORDS=(mailpulse serve --che); COMP_CWORD=2; _mailpulse;
        [ \"\${COMPREPLY[*]}\" = --check-config ]"; then
    ok "completion: serve --che -> --check-config"
else
    not_ok "completion: serve --che -> --check-config"
fi

# Configuration keys: what cmd/serve_conf.c compares keys with, against the .B tags of
# mailpulse.conf(5)'s key sections.
grep -o 'strcmp(key, "[a-z_]*")' "$ROOT/cmd/serve_conf.c" | sed 's/.*"\(.*\)")/\1/' |
    sort -u >"$WORK/conf.keys"
awk '/^\.SH/ { on = ($0 ~ /SECTION/) } on && prev ~ /^\.T[PQ]/ && /^\.B [a-z_]+$/ { print $2 }
     { prev = $0 }' "$MAN5" | sort -u >"$WORK/man5.keys"
n=$(wc -l <"$WORK/conf.keys")
if [ "$n" -ge 20 ]; then
    ok "the configuration reader knows $n keys"
else
    not_ok "the configuration reader knows only $n keys (the extraction is broken)"
fi
check_eq "every configuration key is in mailpulse.conf(5)" "" \
    "$(comm -23 "$WORK/conf.keys" "$WORK/man5.keys" | tr '\n' ' ')"
check_eq "every key of mailpulse.conf(5) is one the reader accepts" "" \
    "$(comm -13 "$WORK/conf.keys" "$WORK/man5.keys" | tr '\n' ' ')"

# Rendering: man's own checks (the way lintian runs them) must say nothing.
for page in "$MAN8" "$MAN5"; do
    w=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
    check_eq "man -l renders $(basename "$page") without warnings" "" "$w"
    name=$(basename "$page")
    if MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q "^NAME"; then
        ok "man -l $name has a NAME section"
    else
        not_ok "man -l $name has a NAME section"
    fi
done
