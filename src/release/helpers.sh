# ferry releases: the operations on the layout of src/release/mod.rs, one
# function each. A script carries the functions it calls (see
# src/shell/library.rs), then sets D (deploy_to) and L (the lock), then
# calls them with quoted arguments. POSIX sh and GNU coreutils. Reports go
# through ferry_say (src/shell/prelude.sh).

# ferry_write FILE TEXT: FILE holds TEXT and a newline, replaced by rename so
# a reader never sees half a record.
ferry_write() {
    { printf '%s\n' "$2" >"$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"; } || ferry_fail "cannot write $1"
}

# ferry_history JSON: one line appended to the history, never rewritten.
ferry_history() {
    printf '%s\n' "$1" >>"$D/.ferry/history.jsonl" || ferry_fail "cannot append to $D/.ferry/history.jsonl"
}

# ferry_history_once EVENT ID JSON: ferry_history JSON, unless the history
# already says EVENT of release ID succeeded: a finish run again by resume
# (its first run was cut) writes its line once.
ferry_history_once() {
    if [ -f "$D/.ferry/history.jsonl" ] &&
        grep -F "\"event\":\"$1\",\"release\":\"$2\"" "$D/.ferry/history.jsonl" | grep -qF '"result":"ok"'; then
        return 0
    fi
    ferry_history "$3"
}

# ferry_tools: the tools release scripts need that the host lacks, in
# $ferry_missing (space-separated).
ferry_tools() {
    ferry_missing=
    for ferry_tool in tar gzip sha256sum cp mv ln readlink awk sort xargs sed stat head tr wc; do
        command -v "$ferry_tool" >/dev/null 2>&1 || ferry_missing="$ferry_missing $ferry_tool"
    done
}

# ferry_report_tools: report the missing tools, if any.
ferry_report_tools() {
    ferry_tools
    if [ -n "$ferry_missing" ]; then ferry_say missing "${ferry_missing# }"; fi
}

# ferry_prepare: the layout's directories, for tasks that change things.
ferry_prepare() {
    mkdir -p "$D/releases" "$D/shared" "$D/.ferry" 2>/dev/null ||
        ferry_fail "cannot create $D/releases, $D/shared and $D/.ferry as $(id -un)"
    [ -w "$D" ] || ferry_fail "$D is not writable by $(id -un)"
    [ -w "$D/.ferry" ] || ferry_fail "$D/.ferry is not writable by $(id -un)"
}

# ferry_lock_state: report the lock free (0), held by a live keeper or one
# still starting (1), or stale (2).
ferry_lock_state() {
    [ -d "$L" ] || {
        ferry_say lock free
        return 0
    }
    ferry_info=$(head -c 4096 "$L/info" 2>/dev/null)
    ferry_pid=$(head -c 32 "$L/keeper" 2>/dev/null)
    if [ -n "$ferry_pid" ]; then
        if [ -d "/proc/$ferry_pid" ] || kill -0 "$ferry_pid" 2>/dev/null; then
            ferry_say lock held "$ferry_info"
            return 1
        fi
    else
        ferry_age=$(($(date +%s) - $(stat -c %Y "$L" 2>/dev/null || echo 0)))
        if [ "$ferry_age" -lt 30 ]; then
            ferry_say lock held "$ferry_info"
            return 1
        fi
    fi
    ferry_say lock stale "$ferry_info"
    return 2
}

# ferry_lock INFO TAKEOVER: take the lock with INFO (JSON) as its record, or
# stop with 75. With TAKEOVER (`stale` for rollback, `resume`), a stale lock
# left by the deploy that is pending here, or by one that finished but for
# its lock, is ours to take over.
ferry_lock() {
    ferry_tries=0
    while :; do
        if mkdir "$L" 2>/dev/null; then
            ferry_write "$L/info" "$1"
            ferry_say lock taken
            return 0
        fi
        ferry_s=0
        ferry_lock_state 3>/dev/null || ferry_s=$?
        # Ours: the lock names the deploy pending here, or one whose finish
        # got as far as clearing the pending record (its release is live).
        ferry_mine=
        ferry_held=$(cat "$L/release" 2>/dev/null)
        if [ -n "$2" ] && [ -n "$ferry_held" ] && {
            [ "$ferry_held" = "$(cat "$D/.ferry/deploy.release" 2>/dev/null)" ] ||
                [ "$(readlink "$D/current" 2>/dev/null)" = "releases/$ferry_held" ]
        }; then
            ferry_mine=yes
        fi
        if [ "$ferry_s" -eq 2 ] && [ -n "$ferry_mine" ]; then
            rm -rf "$L"
            ferry_say took-over "$ferry_held"
            continue
        fi
        # Our own earlier run's keeper notices the lost connection in three keepalives.
        if [ "$ferry_s" -eq 1 ] && [ -n "$ferry_mine" ] && [ "$2" = resume ] && [ "$ferry_tries" -lt 60 ]; then
            ferry_tries=$((ferry_tries + 1))
            sleep 1
            continue
        fi
        ferry_lock_state
        exit 75
    done
}

# ferry_listing: where current points, every release with its record, and
# the unfinished deploy.
ferry_listing() {
    ferry_c=
    if ferry_c=$(readlink "$D/current" 2>/dev/null); then ferry_say current "${ferry_c##*/}"; fi
    for ferry_r in "$D"/releases/*; do
        [ -d "$ferry_r" ] || continue
        ferry_say release "${ferry_r##*/}" "$(head -c 65536 "$ferry_r/.ferry/release.json" 2>/dev/null)"
    done
    if [ -f "$D/.ferry/deploy.json" ]; then
        ferry_say pending "$(head -c 65536 "$D/.ferry/deploy.json")"
    fi
}

# ferry_sums: digests and modes of the live release's files as they are on
# disk, not as recorded (a file edited in place on the host is sent again),
# and the files its manifest lists that are gone. Nothing is written: the
# lists are held in variables, one file a line (file names never hold a
# newline or a tab: ferry refuses them), and each crosses to ferry as the
# fields of one report. `--check` runs this, and must change nothing.
ferry_sums() {
    [ -n "$ferry_c" ] && [ -f "$D/current/.ferry/manifest" ] || return 0
    ferry_list=$(cd "$D/current/" && awk -F'\t' '$1 == "f" { print $5 }' .ferry/manifest) ||
        ferry_fail "cannot read the live release's manifest"
    ferry_sum_list=
    ferry_mode_list=
    ferry_gone_list=
    if [ -n "$ferry_list" ]; then
        ferry_sum_list=$(cd "$D/current/" && printf '%s\n' "$ferry_list" | tr '\n' '\0' | xargs -0 -r sha256sum -z -- 2>/dev/null | tr '\0' '\n')
        ferry_mode_list=$(cd "$D/current/" && printf '%s\n' "$ferry_list" | tr '\n' '\0' | xargs -0 -r stat --printf '%a %n\n' -- 2>/dev/null)
        ferry_gone_list=$(cd "$D/current/" && printf '%s\n' "$ferry_list" | while IFS= read -r ferry_p; do
            [ -f "$ferry_p" ] || printf '%s\n' "$ferry_p"
        done)
    fi
    set -f
    IFS='
'
    # shellcheck disable=SC2086 # split on newlines only: one field a file
    {
        ferry_say sums $ferry_sum_list
        ferry_say modes $ferry_mode_list
        if [ -n "$ferry_gone_list" ]; then ferry_say gone $ferry_gone_list; fi
    }
    unset IFS
    set +f
}

# ferry_upload_begin ID PENDING: the deploy of release ID is under way
# (PENDING is its record, for resume); nothing to do if it is uploaded.
ferry_upload_begin() {
    ID=$1
    R="$D/releases/$ID"
    T="$D/releases/.$ID.partial"
    ferry_write "$D/.ferry/deploy.json" "$2"
    ferry_write "$D/.ferry/deploy.release" "$ID"
    # The lock now names its release, so `deploy:resume=yes` may take it over.
    ferry_write "$L/release" "$ID"
    if [ -d "$R" ]; then
        ferry_say uploaded already
        exit 0
    fi
    if ! { rm -rf "$T" && mkdir -p "$T/.ferry"; }; then ferry_fail "cannot create $T"; fi
}

# ferry_receive FILE LEN: exactly LEN bytes of stdin into FILE.
ferry_receive() {
    head -c "$2" >"$1" || ferry_fail "cannot write $1"
    [ "$(wc -c <"$1")" -eq "$2" ] || ferry_fail "the file lists sent were cut short"
}

# ferry_assemble BASE DIGEST: the new release from the live release BASE's
# unchanged files (a reflink where the filesystem can) and the tar stream on
# stdin; its manifest rebuilt and checked against the artifact's DIGEST.
ferry_assemble() {
    : >"$T/.ferry/keep"
    if [ -n "$1" ] && [ -f "$D/releases/$1/.ferry/manifest" ]; then
        awk -F'\t' -v drops="$T/.ferry/drop" 'BEGIN { while ((getline line < drops) > 0) drop[line] = 1 } $1 == "f" && !($5 in drop)' \
            "$D/releases/$1/.ferry/manifest" >"$T/.ferry/keep" ||
            ferry_fail "cannot read the manifest of release $1"
        awk -F'\t' '{ print $5 }' "$T/.ferry/keep" | tr '\n' '\0' |
            (cd "$D/releases/$1" && xargs -0 -r cp -a --reflink=auto --parents -t "$T" --) ||
            ferry_fail "cannot copy the unchanged files of release $1"
    fi
    tar -xzpf - --no-same-owner -C "$T" || ferry_fail "cannot unpack the files sent"
    cat "$T/.ferry/keep" "$T/.ferry/add" | LC_ALL=C sort -t "$(printf '\t')" -k5,5 >"$T/.ferry/manifest"
    rm -f "$T/.ferry/keep" "$T/.ferry/add" "$T/.ferry/drop"
    ferry_sum=$(sha256sum <"$T/.ferry/manifest")
    [ "${ferry_sum%% *}" = "$2" ] ||
        ferry_fail "the files assembled for $ID do not match the artifact (digest mismatch)"
}

# ferry_dotenv FILE LINES N [NAME VALUE]... KEY...: shared FILE (mode 0600)
# holds LINES (each ended by a newline), then N secrets, each a NAME and its
# VALUE as a .env writes it (each its own word, which the redactor masks),
# then each KEY generated once and kept after.
ferry_dotenv() {
    ferry_e="$D/shared/$1"
    ferry_lines=$2
    ferry_n=$3
    shift 3
    mkdir -p "$(dirname -- "$ferry_e")" || ferry_fail "cannot create the directory of $ferry_e"
    (
        umask 077
        {
            printf '%s' "$ferry_lines"
            while [ "$ferry_n" -gt 0 ]; do
                printf '%s=%s\n' "$1" "$2"
                shift 2
                ferry_n=$((ferry_n - 1))
            done
            for ferry_k in "$@"; do
                ferry_v=$(grep -m1 "^$ferry_k=" "$ferry_e" 2>/dev/null | cut -d= -f2-)
                [ -n "$ferry_v" ] || ferry_v=$(head -c 96 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 50)
                printf '%s=%s\n' "$ferry_k" "$ferry_v"
            done
        } >"$ferry_e.tmp"
    ) || ferry_fail "cannot write $ferry_e"
    if ! { chmod 600 "$ferry_e.tmp" && mv -f "$ferry_e.tmp" "$ferry_e"; }; then ferry_fail "cannot write $ferry_e"; fi
}

# ferry_with_env TEXT: $D/.ferry/with-env holds TEXT, the program services
# run through to see the .env (shell::with_env_program), executable before
# it replaces the old one by rename.
ferry_with_env() {
    if ! { printf '%s\n' "$1" >"$D/.ferry/with-env.tmp.$$" &&
        chmod 755 "$D/.ferry/with-env.tmp.$$" &&
        mv -f "$D/.ferry/with-env.tmp.$$" "$D/.ferry/with-env"; }; then
        ferry_fail "cannot write $D/.ferry/with-env"
    fi
}

# ferry_share PATH dir|file: PATH in the release links to shared/PATH.
ferry_share() {
    mkdir -p "$D/shared/$(dirname -- "$1")" "$T/$(dirname -- "$1")" || ferry_fail "cannot create the parents of shared $1"
    if [ "$2" = dir ]; then mkdir -p "$D/shared/$1"; elif [ ! -e "$D/shared/$1" ]; then : >"$D/shared/$1"; fi
    if ! { rm -rf "${T:?}/$1" && ln -s "$D/shared/$1" "$T/$1"; }; then ferry_fail "cannot link shared $1"; fi
}

# ferry_sed_literal TEXT: TEXT as a sed pattern that matches only itself.
ferry_sed_literal() { printf '%s\n' "$1" | sed 's/[]\[\.*^$/]/\\&/g'; }

# ferry_copy_current DIR: DIR copied from the live release. A copied
# virtualenv still names the old release in its scripts
# (#!…/releases/OLD/venv/bin/python): point them at the new one.
ferry_copy_current() {
    [ -d "$D/current/$1" ] || return 0
    ferry_old=$(readlink -f "$D/current")
    if ! { rm -rf "${T:?}/$1" && cp -a --reflink=auto "$D/current/$1" "$T/$1"; }; then
        ferry_fail "cannot copy $1 from the live release"
    fi
    ferry_from=$(ferry_sed_literal "$ferry_old/")
    ferry_to=$(printf '%s\n' "$R/" | sed 's/[\\&/]/\\&/g')
    grep -rlIF -- "$ferry_old/" "$T/$1" 2>/dev/null | tr '\n' '\0' |
        xargs -0 -r sed -i "s/$ferry_from/$ferry_to/g" --
    ferry_say copied "$1"
}

# ferry_upload_end: the release gets its final name, unless the lock is no
# longer ours: a script outlives a ferry that was killed, and must not finish
# a release for a deploy whose lock someone else now holds.
ferry_upload_end() {
    [ "$(cat "$L/release" 2>/dev/null)" = "$ID" ] ||
        ferry_fail "the deploy lock is no longer held for $ID; leaving it unfinished"
    mv "$T" "$R" || ferry_fail "cannot rename $T to $R"
    ferry_say uploaded
}

# ferry_in_release ID: work in release ID, with its whereabouts in the environment.
ferry_in_release() {
    R="$D/releases/$1"
    cd "$R" || ferry_fail "release $R is missing"
    FERRY_RELEASE=$1
    FERRY_RELEASE_PATH=$R
    FERRY_DEPLOY_TO=$D
    export FERRY_RELEASE FERRY_RELEASE_PATH FERRY_DEPLOY_TO
}

# ferry_switch ID: current points at ID, replaced by rename(2): readers see
# the old target or the new one, never a missing link.
ferry_switch() {
    [ -d "$D/releases/$1" ] || ferry_fail "release $1 is not on this host"
    if ferry_was=$(readlink "$D/current" 2>/dev/null); then ferry_say was "${ferry_was##*/}"; fi
    if ! { ln -s "releases/$1" "$D/current.tmp-$$" && mv -T "$D/current.tmp-$$" "$D/current"; }; then
        rm -f "$D/current.tmp-$$"
        ferry_fail "cannot switch current to $1"
    fi
    ferry_say now "$1"
}

# ferry_health LABEL DEADLINE INTERVAL: ferry_probe until it passes or
# DEADLINE seconds have gone by, every INTERVAL seconds.
ferry_health() {
    ferry_say activity "health check $1"
    ferry_deadline=$(($(date +%s) + $2))
    while :; do
        if ferry_probe; then
            ferry_say healthy
            return 0
        fi
        if [ "$(date +%s)" -ge "$ferry_deadline" ]; then
            ferry_say unhealthy "$(printf '%s' "$ferry_body" | tail -c 300 | tr '\n' ' ')"
            exit 1
        fi
        sleep "$3"
    done
}

# ferry_done ID: the deploy of ID has nothing left pending; what abandoned
# deploys left half-written goes.
ferry_done() {
    rm -f "$D/.ferry/deploy.json" "$D/.ferry/deploy.release"
    for ferry_p in "$D"/releases/.*.partial; do
        if [ -d "$ferry_p" ]; then rm -rf "$ferry_p" 2>/dev/null; fi
    done
    :
}

# ferry_remove ID...: remove these releases, reporting each; never one a
# service slot runs from ($D/slots/*: its processes' code and virtualenv).
# Each is only renamed into .ferry/trash, which is instant; the deleting
# happens after, detached from the session, so neither the deploy's end nor
# ferry's exit waits for it.
ferry_remove() {
    mkdir -p "$D/.ferry/trash" || ferry_fail "cannot create $D/.ferry/trash"
    for ferry_id in "$@"; do
        case $ferry_id in '' | . | .. | */*) ferry_fail "refusing to remove release '$ferry_id'" ;; esac
        if ferry_in_slot "$ferry_id"; then
            echo "release $ferry_id stays: a service slot runs from it" >&2
            continue
        fi
        if mv -- "$D/releases/$ferry_id" "$D/.ferry/trash/$ferry_id.$$"; then
            ferry_say removed "$ferry_id"
        fi
    done
    (cd / && exec rm -rf "$D/.ferry/trash") >/dev/null 2>&1 3>&- &
}

# ferry_in_slot ID: true when a slot link points at release ID.
ferry_in_slot() {
    for ferry_l in "$D"/slots/*; do
        [ -L "$ferry_l" ] || continue
        [ "$(readlink "$ferry_l")" = "../releases/$1" ] && return 0
    done
    return 1
}

# ferry_keep SILENCE: hold the lock while ferry's heartbeats come on stdin
# (a byte every few seconds). `r` releases it; silence for SILENCE seconds
# or the end of stdin leaves it behind, to read as stale.
ferry_keep() {
    echo "$$" >"$L/keeper"
    while :; do
        ferry_b=$(timeout "$1" head -c 1 2>/dev/null)
        case "$ferry_b" in
        .) ;;
        r)
            rm -rf "$L"
            ferry_say released
            exit 0
            ;;
        *) exit 0 ;;
        esac
    done
}

# ferry_unlock FORCE: remove a stale lock; a live one only with FORCE.
ferry_unlock() {
    ferry_s=0
    ferry_lock_state || ferry_s=$?
    case $ferry_s in
    0) exit 0 ;;
    1) [ -n "$1" ] || exit 75 ;;
    esac
    rm -rf "$L" && ferry_say unlocked
}

# ferry_history_tail N: the last N lines of the history.
ferry_history_tail() {
    [ -f "$D/.ferry/history.jsonl" ] || return 0
    ferry_say history "$(tail -n "$1" "$D/.ferry/history.jsonl")"
}

# ferry_check: who ferry is on this host, whether deploy_to is usable, and
# which tools are missing; fails if anything would stop a deploy.
ferry_check() {
    printf 'remote: %s@%s (%s)\n' "$(id -un)" "$(uname -n)" "$(uname -sr)"
    ferry_s=0
    if [ -d "$D" ]; then
        if [ -w "$D" ]; then
            echo "deploy_to: $D (writable)"
        else
            echo "deploy_to: $D is not writable by $(id -un)"
            ferry_s=1
        fi
    else
        ferry_p=$(dirname -- "$D")
        if [ -w "$ferry_p" ]; then
            echo "deploy_to: $D (missing; the first deploy creates it)"
        else
            echo "deploy_to: $D is missing and $ferry_p is not writable by $(id -un)"
            ferry_s=1
        fi
    fi
    ferry_tools
    if [ -n "$ferry_missing" ]; then
        echo "missing tools:$ferry_missing"
        ferry_s=1
    else
        echo 'tools: all present'
    fi
    exit "$ferry_s"
}

# ferry_pack ID: the files of release ID that its manifest lists, as one
# gzipped tar report (promotion rebuilds the artifact from it and checks its
# digest). Written to a private temporary file, never into the layout.
ferry_pack() {
    [ -f "$D/releases/$1/.ferry/manifest" ] || ferry_fail "release $1 has no manifest on this host"
    ferry_t=$(mktemp -d) || ferry_fail "cannot create a temporary directory"
    awk -F'\t' '{ print $5 }' "$D/releases/$1/.ferry/manifest" | tr '\n' '\0' >"$ferry_t/list"
    if ! tar -czf "$ferry_t/tar" -C "$D/releases/$1" --no-recursion --null -T "$ferry_t/list"; then
        rm -rf "$ferry_t"
        ferry_fail "cannot pack the files of release $1"
    fi
    ferry_say_file archive "$ferry_t/tar"
    rm -rf "$ferry_t"
}
