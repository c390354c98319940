# ferry check: who ferry is on a host, whether deploy_to is usable, and
# which of the tools ferry's scripts run are missing there or lack an option
# they use (`cp --parents`, `mv -T`, `xargs -0 -r`, GNU tar's `--null -T`:
# BusyBox and BSD tools lack some). Each tool is
# probed with the very options ferry passes it, in a scratch directory that
# is removed after. POSIX sh; it changes nothing else.

# ferry_probe TOOL OPTION COMMAND...: COMMAND, a use of TOOL as ferry's
# scripts make it, run in the scratch directory. A TOOL not on PATH joins
# $ferry_missing; one whose use fails joins $ferry_lacking as `TOOL OPTION`.
ferry_probe() {
    ferry_pt=$1
    ferry_po=$2
    shift 2
    if ! command -v "$ferry_pt" >/dev/null 2>&1; then
        case " $ferry_missing " in
        *" $ferry_pt "*) ;;
        *) ferry_missing="$ferry_missing $ferry_pt" ;;
        esac
    elif ! (cd "$ferry_pd" && "$@") >/dev/null 2>&1 </dev/null; then
        ferry_lacking="$ferry_lacking, $ferry_pt $ferry_po"
    fi
}

# The probes that need a pipe or more than one command.
ferry_probe_tar_c() { printf 's/f\0' >list && tar -czf t.tgz --no-recursion --null -T list; }
ferry_probe_tar_x() { mkdir -p x && tar -czf t2.tgz s && tar -xzpf - --no-same-owner -C x <t2.tgz && [ -f x/s/f ]; }
ferry_probe_sha() { sha256sum -- s/f | grep -q ' s/f$'; }
ferry_probe_cp() { mkdir -p c && cp -a --reflink=auto --parents -t c -- s/f && [ -f c/s/f ]; }
ferry_probe_cp_l() { mkdir -p h && cp -al --parents -t h -- s/f && [ "$(stat -c %i s/f)" = "$(stat -c %i h/s/f)" ]; }
ferry_probe_mv() { ln -s s m1 && ln -s s m2 && mv -T m1 m2 && [ ! -e m1 ]; }
ferry_probe_xargs() { printf 's/f\0' | xargs -0 -r ls -- | grep -q f && printf '' | xargs -0 -r false; }
ferry_probe_stat() { [ "$(stat -c '%a %n' -- s/f)" = "644 s/f" ]; }
ferry_probe_sort() { printf 'a\tb\n' | LC_ALL=C sort -t "$(printf '\t')" -k2,2 >/dev/null; }
ferry_probe_awk() { awk -F'\t' -v d=list 'BEGIN { while ((getline l < d) > 0) n++ } END { exit n != 1 }' s/f; }
ferry_probe_grep() { grep -rlIF -- a s | grep -q f && grep -m1 '^a' s/f >/dev/null; }
ferry_probe_dd() { [ "$(printf 'abc' | dd bs=2 count=1 iflag=fullblock 2>/dev/null)" = ab ]; }
ferry_probe_head() { [ "$(head -c 1 s/f)" = a ]; }
ferry_probe_base64() { printf 'ab' | base64 | tr -dc 'A-Za-z0-9' | grep -q .; }

# ferry_check_tools: fill $ferry_missing and $ferry_lacking.
ferry_check_tools() {
    ferry_missing=
    ferry_lacking=
    if ! command -v mktemp >/dev/null 2>&1; then ferry_missing=" mktemp"; fi
    ferry_pd=$(mktemp -d 2>/dev/null) || {
        ferry_lacking=", mktemp -d"
        ferry_pd="${TMPDIR:-/tmp}/ferry-check.$$"
    }
    (umask 022 && mkdir -p "$ferry_pd/s" && printf 'a\n' >"$ferry_pd/s/f") || ferry_fail "cannot write to $ferry_pd"
    ferry_probe gzip '' gzip -c s/f
    ferry_probe tar '-czf --no-recursion --null -T' ferry_probe_tar_c
    ferry_probe tar '-xzpf --no-same-owner' ferry_probe_tar_x
    ferry_probe sha256sum '' ferry_probe_sha
    ferry_probe cp '-a --reflink=auto --parents -t' ferry_probe_cp
    ferry_probe cp '-al --parents -t' ferry_probe_cp_l
    ferry_probe ln -s ln -s s l
    ferry_probe mv -T ferry_probe_mv
    ferry_probe readlink -f readlink -f l
    ferry_probe xargs '-0 -r' ferry_probe_xargs
    ferry_probe stat "-c '%a %n'" ferry_probe_stat
    ferry_probe stat '-c %Y' stat -c %Y s/f
    ferry_probe sed -i sed -i 's/x/y/' s/f
    ferry_probe awk '-F -v getline' ferry_probe_awk
    ferry_probe sort '-t -k' ferry_probe_sort
    ferry_probe grep '-rlIF -m1' ferry_probe_grep
    ferry_probe head -c ferry_probe_head
    ferry_probe tr -dc ferry_probe_base64
    ferry_probe base64 '' ferry_probe_base64
    ferry_probe wc -c wc -c s/f
    ferry_probe cut '-d -f' cut -d a -f 2- s/f
    ferry_probe dd 'iflag=fullblock' ferry_probe_dd
    ferry_probe timeout '' timeout 5 true
    ferry_probe date +%s date +%s
    ferry_probe id -un id -un
    rm -rf "$ferry_pd"
}

# ferry_check: who ferry is on this host, whether deploy_to is usable, and
# which tools are missing or lack an option; fails if anything would stop a
# deploy, its last line saying what.
ferry_check() {
    printf 'remote: %s@%s (%s)\n' "$(id -un)" "$(uname -n)" "$(uname -sr)"
    ferry_why=
    if [ -d "$D" ]; then
        if [ -w "$D" ]; then
            echo "deploy_to: $D (writable)"
        else
            ferry_why="$D is not writable by $(id -un)"
        fi
    else
        ferry_p=$(dirname -- "$D")
        if [ -w "$ferry_p" ]; then
            echo "deploy_to: $D (missing; the first deploy creates it)"
        else
            ferry_why="$D is missing and $ferry_p is not writable by $(id -un)"
        fi
    fi
    if [ -n "$ferry_why" ]; then echo "deploy_to: $ferry_why"; fi
    ferry_check_tools
    if [ -z "$ferry_missing$ferry_lacking" ]; then
        echo 'tools: all present'
    else
        if [ -n "$ferry_missing" ]; then echo "missing tools (PATH=$PATH):$ferry_missing"; fi
        if [ -n "$ferry_lacking" ]; then echo "tools without an option ferry uses: ${ferry_lacking#, }"; fi
        echo "ferry's host scripts need GNU coreutils, GNU tar, grep, sed and awk"
        ferry_why="${ferry_why:+$ferry_why; }${ferry_missing:+missing:$ferry_missing}"
        if [ -n "$ferry_missing" ] && [ -n "$ferry_lacking" ]; then ferry_why="$ferry_why; "; fi
        ferry_why="$ferry_why${ferry_lacking:+without an option ferry uses: ${ferry_lacking#, }}"
    fi
    if [ -n "$ferry_why" ]; then
        echo "not ready: $ferry_why"
        exit 1
    fi
}
