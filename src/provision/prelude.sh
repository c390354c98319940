# ferry provision: helpers for the resource blocks that follow. POSIX sh and
# coreutils; each resource uses the tools it manages (dpkg and apt, useradd,
# systemctl or init scripts, supervisorctl, nginx). Set before this:
# ferry_check and ferry_diff (empty or 1). The common prelude
# (src/shell/prelude.sh) comes first: ferry_say, ferry_fail, ferry_root.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
# Tools speak one language, so what they say can be read (stat, apt).
LC_ALL=C
export PATH LC_ALL
ferry_t=$(mktemp -d) || exit 1
trap 'rm -rf "$ferry_t"' EXIT
# Owners of files that name none (used only by scripts with such files).
# shellcheck disable=SC2034
ferry_login=$(id -un)
# shellcheck disable=SC2034
ferry_login_group=$(id -gn)

# Run as root: directly when root, else through sudo -n, which fails at once
# instead of waiting for a password nobody will type.

# ferry_begin INDEX LABEL root|user: a resource block starts.
ferry_begin() {
    ferry_i=$1
    ferry_label=$2
    if [ "$3" = root ]; then ferry_as=ferry_root; else ferry_as=; fi
    : >"$ferry_t/why"
    ferry_say activity "$2"
}

# True unless --check: changes are to be made.
ferry_apply() { [ -z "$ferry_check" ]; }

# A difference the block found (and, unless --check, fixed).
ferry_change() { printf '%s\n' "$1" >>"$ferry_t/why"; }

# ferry_end STATUS: report the block, or stop here if it failed.
ferry_end() {
    if [ "$1" -ne 0 ]; then
        ferry_say failed "$ferry_i" "$1"
        exit "$1"
    fi
    ferry_why=
    while IFS= read -r ferry_l; do
        ferry_why="${ferry_why:+$ferry_why, }$ferry_l"
    done <"$ferry_t/why"
    if [ -z "$ferry_why" ]; then
        ferry_last=ok
        printf '%-12s %s\n' ok "$ferry_label"
    elif ferry_apply; then
        ferry_last=changed
        printf '%-12s %s: %s\n' changed "$ferry_label" "$ferry_why"
    else
        ferry_last=would
        printf '%-12s %s: %s\n' 'would change' "$ferry_label" "$ferry_why"
    fi
    ferry_say resource "$ferry_i" "$ferry_last" "$ferry_why"
}

# Run a command with no hold on our output (a daemon it starts keeps its
# descriptors); show what it said only if it failed.
ferry_quietly() {
    ferry_s=0
    "$@" </dev/null >"$ferry_t/out" 2>&1 || ferry_s=$?
    if [ "$ferry_s" -ne 0 ]; then
        cat "$ferry_t/out" >&2
        # The reason as a report too: the last line of output may be another's.
        ferry_say error "$(grep -m1 '^E: ' "$ferry_t/out" || tail -n 1 "$ferry_t/out")"
    fi
    return "$ferry_s"
}

ferry_pkg_installed() {
    case "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" in
    *" ok installed") return 0 ;;
    esac
    return 1
}

# ferry_package INDEX NAME root|user: ok now, or queued for one apt-get run.
ferry_package() {
    ferry_begin "$1" "package $2" "$3"
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "this host has no dpkg: ferry installs packages with apt, on Debian and Ubuntu" >&2
        ferry_end 1
    fi
    if ferry_pkg_installed "$2"; then
        ferry_end 0
    else
        ferry_missing="$ferry_missing $1:$2"
        ferry_pkg_as=$3
    fi
}

# Package lists older than a day (or none, on a fresh image) may not know
# the packages: refresh them first. A failed refresh is not fatal.
ferry_apt_update() {
    if [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
        return 0
    fi
    ferry_say activity 'apt-get update'
    $ferry_as apt-get update -q </dev/null >"$ferry_t/update" 2>&1 ||
        echo "apt-get update failed; installing with the package lists there are" >&2
}

# Install what ferry_package queued, in one apt-get run, and report each.
ferry_packages() {
    [ -n "$ferry_missing" ] || return 0
    ferry_names=
    for ferry_e in $ferry_missing; do ferry_names="$ferry_names ${ferry_e#*:}"; done
    if ferry_apply; then
        if [ "$ferry_pkg_as" = root ]; then ferry_as=ferry_root; else ferry_as=; fi
        ferry_say activity "apt-get install$ferry_names"
        ferry_apt_update
        ferry_s=0
        # shellcheck disable=SC2086 # one word per package name
        $ferry_as env DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends \
            -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef \
            -o Dpkg::Options::=--force-confold $ferry_names </dev/null >"$ferry_t/apt" 2>&1 ||
            ferry_s=$?
        if [ "$ferry_s" -ne 0 ]; then
            echo "apt-get install$ferry_names exited with $ferry_s:" >&2
            tail -n 5 "$ferry_t/apt" >&2
            ferry_e=${ferry_missing# }
            ferry_i=${ferry_e%%:*}
            ferry_end "$ferry_s"
        fi
    fi
    for ferry_e in $ferry_missing; do
        ferry_begin "${ferry_e%%:*}" "package ${ferry_e#*:}" "$ferry_pkg_as"
        ferry_change installed
        ferry_end 0
    done
}

# ferry_member GROUP: the SSH user of the run is in GROUP, from its next
# login on. Under --check the group may be one a package would create.
ferry_member() {
    if ! getent group "$1" >/dev/null; then
        if ferry_apply; then ferry_fail "there is no group $1 on this host"; fi
        ferry_change "$ferry_login would join $1 (once its package creates it)"
        return 0
    fi
    case " $(id -nG "$ferry_login") " in
    *" $1 "*) return 0 ;;
    esac
    ferry_change "$ferry_login joined $1"
    if ferry_apply; then $ferry_as usermod -a -G "$1" "$ferry_login"; fi
}

# What is at PATH, as the block's user sees it (root's view when it
# becomes root: a user may not see into a private directory): none, link,
# directory, file or other. Symlinks are not followed.
ferry_kind() {
    case "$($ferry_as stat -c %F -- "$1" 2>/dev/null)" in
    "") echo none ;;
    "symbolic link") echo link ;;
    directory) echo directory ;;
    "regular file" | "regular empty file") echo file ;;
    *) echo other ;;
    esac
}

# ferry_attrs PATH OWNER GROUP MODE: empty ones are left as they are.
ferry_attrs() {
    if [ -n "$2$3" ]; then
        ferry_cur=$($ferry_as stat -c '%U:%G' -- "$1")
        ferry_want="${2:-${ferry_cur%%:*}}:${3:-${ferry_cur#*:}}"
        if [ "$ferry_cur" != "$ferry_want" ]; then
            ferry_change "owner $ferry_cur -> $ferry_want"
            if ferry_apply; then $ferry_as chown -- "$ferry_want" "$1"; fi
        fi
    fi
    if [ -n "$4" ]; then
        ferry_cur=$($ferry_as stat -c '%a' -- "$1")
        if [ "$ferry_cur" != "$4" ]; then
            ferry_change "mode $ferry_cur -> $4"
            # Five digits or more: GNU chmod keeps a directory's setgid bit otherwise.
            if ferry_apply; then $ferry_as chmod -- "00$4" "$1"; fi
        fi
    fi
}

# ferry_directory PATH OWNER GROUP MODE
ferry_directory() {
    ferry_k=$(ferry_kind "$1")
    if [ "$ferry_k" = none ]; then
        ferry_change created
        ferry_apply || return 0
        $ferry_as mkdir -p -- "$1"
        ferry_attrs "$@"
        # Its owner and mode are part of creating it, not news of their own.
        echo created >"$ferry_t/why"
        return 0
    fi
    [ "$ferry_k" = directory ] || ferry_fail "$1 exists and is not a directory"
    ferry_attrs "$@"
}

# With --diff: the old content, for ferry to diff, as a report of its own
# (the index, a NUL, then the bytes); a large file only as `old`.
ferry_old() {
    [ -n "$ferry_diff" ] || return 0
    if [ "$($ferry_as stat -c %s -- "$1")" -gt 262144 ]; then
        ferry_say old "$ferry_i"
        return 0
    fi
    $ferry_as cat -- "$1" >"$ferry_t/old" || return 0
    {
        printf 'old-content %d\n%s\0' "$(($(wc -c <"$ferry_t/old") + ${#ferry_i} + 1))" "$ferry_i" &&
            cat "$ferry_t/old"
    } >&3
}

# ferry_file PATH SHA256 OWNER GROUP MODE SEED, the new content in
# $ferry_t/new. It replaces the old file with rename(2): readers see one or
# the other. With SEED, a file already there is left as it is.
ferry_file() {
    ferry_k=$(ferry_kind "$1")
    case $ferry_k in directory | other) ferry_fail "$1 is a $ferry_k, not a file" ;; esac
    if [ -n "$6" ] && [ "$ferry_k" != none ]; then return 0; fi
    ferry_dir=$(dirname -- "$1")
    if ! $ferry_as test -d "$ferry_dir"; then
        # Under --check an earlier resource may be what would create it.
        if ! ferry_apply; then
            ferry_change "created (in $ferry_dir, which does not exist yet)"
            return 0
        fi
        ferry_fail "$ferry_dir does not exist: add it under [provision.directories]"
    fi
    ferry_mode=${5:-644}
    ferry_own=:
    if [ "$ferry_k" = file ]; then
        ferry_cur=$($ferry_as sha256sum -- "$1")
        if [ "${ferry_cur%% *}" = "$2" ]; then
            ferry_attrs "$1" "$3" "$4" "$5"
            return 0
        fi
        ferry_change content
        ferry_old "$1"
        ferry_cur=$($ferry_as stat -c '%a' -- "$1")
        ferry_mode=${5:-$ferry_cur}
        [ "$ferry_mode" = "$ferry_cur" ] || ferry_change "mode $ferry_cur -> $ferry_mode"
        ferry_own=$($ferry_as stat -c '%U:%G' -- "$1")
        ferry_cur="${3:-${ferry_own%%:*}}:${4:-${ferry_own#*:}}"
        [ "$ferry_cur" = "$ferry_own" ] || ferry_change "owner $ferry_own -> $ferry_cur"
    elif [ "$ferry_k" = link ]; then
        ferry_change "replaced a symlink"
    else
        ferry_change created
    fi
    ferry_apply || return 0
    ferry_u=${3:-${ferry_own%%:*}}
    ferry_g=${4:-${ferry_own#*:}}
    ferry_tmp="$ferry_dir/.$(basename -- "$1").ferry-$$"
    trap '$ferry_as rm -f -- "$ferry_tmp"' EXIT
    # Private until its mode is set: the content may hold secrets.
    (umask 077 && $ferry_as cp -- "$ferry_t/new" "$ferry_tmp")
    $ferry_as chmod -- "00$ferry_mode" "$ferry_tmp"
    if [ -n "$ferry_u$ferry_g" ]; then
        $ferry_as chown -- "$ferry_u${ferry_g:+:$ferry_g}" "$ferry_tmp"
    fi
    $ferry_as mv -f -- "$ferry_tmp" "$1"
    trap - EXIT
}

# ferry_absent PATH: no file or symlink there.
ferry_absent() {
    case $(ferry_kind "$1") in
    none) ;;
    directory) ferry_fail "$1 is a directory: ferry removes only files and symlinks" ;;
    *)
        ferry_change removed
        if ferry_apply; then $ferry_as rm -f -- "$1"; fi
        ;;
    esac
}

# ferry_link PATH TARGET, switched with rename(2) like `current`.
ferry_link() {
    case $(ferry_kind "$1") in
    link)
        ferry_cur=$($ferry_as readlink -- "$1")
        [ "$ferry_cur" != "$2" ] || return 0
        ferry_change "pointed to $ferry_cur"
        ;;
    none) ferry_change created ;;
    *) ferry_fail "$1 exists and is not a symlink" ;;
    esac
    ferry_apply || return 0
    $ferry_as ln -sfn -- "$2" "$1.ferry-$$"
    $ferry_as mv -fT -- "$1.ferry-$$" "$1"
}

# Services go through systemd where it runs (PID 1), else through their
# init script: containers and hosts without systemd still have those.
ferry_systemd() { [ -d /run/systemd/system ]; }

# 0: enabled; 1: not; 9: cannot tell (no systemd and no init script).
ferry_is_enabled() {
    if ferry_systemd; then
        systemctl is-enabled --quiet "$1" 2>/dev/null
        return
    fi
    [ -x "/etc/init.d/$1" ] || return 9
    ls /etc/rc[2345].d/S[0-9][0-9]"$1" >/dev/null 2>&1
}

# 0: running; 1: not; 9: cannot tell.
ferry_is_running() {
    if ferry_systemd; then
        systemctl is-active --quiet "$1"
        return
    fi
    [ -x "/etc/init.d/$1" ] || return 9
    if $ferry_as "/etc/init.d/$1" status </dev/null >/dev/null 2>&1; then return 0; fi
    return 1
}

# ferry_service_do ACTION NAME: enable, start, reload, restart.
ferry_service_do() {
    if ferry_systemd; then
        $ferry_as systemctl "$1" "$2"
        return
    fi
    if [ ! -x "/etc/init.d/$2" ]; then
        echo "cannot $1 $2: this host runs no systemd and has no /etc/init.d/$2" >&2
        return 1
    fi
    case $1 in
    enable) $ferry_as update-rc.d "$2" defaults && $ferry_as update-rc.d "$2" enable ;;
    *)
        if command -v service >/dev/null 2>&1; then
            $ferry_as service "$2" "$1"
        else
            $ferry_as "/etc/init.d/$2" "$1"
        fi
        ;;
    esac
}

# ferry_service NAME ENABLE START, each 1 or 0.
ferry_service() {
    if [ "$2" = 1 ]; then
        ferry_s=0
        ferry_is_enabled "$1" || ferry_s=$?
        if [ "$ferry_s" -eq 9 ] && ! ferry_apply; then
            ferry_change "enabled (not checked: no systemd and no /etc/init.d/$1 here)"
        elif [ "$ferry_s" -ne 0 ]; then
            ferry_change enabled
            if ferry_apply; then ferry_quietly ferry_service_do enable "$1"; fi
        fi
    fi
    if [ "$3" = 1 ]; then
        ferry_s=0
        ferry_is_running "$1" || ferry_s=$?
        if [ "$ferry_s" -ne 0 ]; then
            ferry_change started
            if ferry_apply; then ferry_quietly ferry_service_do start "$1"; fi
        fi
    fi
}

# ferry_handler INDEX LABEL: a handler runs, or under --check would.
ferry_handler() {
    ferry_h=$1
    ferry_hl=$2
    ferry_say activity "$2"
    if ferry_apply; then return 0; fi
    printf '%-12s %s\n' 'would run' "$2"
    return 1
}

ferry_handler_end() {
    if [ "$1" -ne 0 ]; then
        ferry_say failed-handler "$ferry_h" "$1"
        exit "$1"
    fi
    printf '%-12s %s\n' ran "$ferry_hl"
}
