# A script calls only some of the helpers (SC2317), and quoted literals hold
# $ and backquotes as data (SC2016).
# shellcheck disable=SC2317,SC2016
# ferry: what every script ferry sends to a host starts with. POSIX sh.
# fd 3 is ferry's channel (see src/protocol.rs): reports go there as frames,
# and only through ferry_say. Everything else a script prints is output for
# the user; commands the user wrote run with fd 3 closed.

# ferry_say WORD [FIELD...]: one report. Each field ends with a NUL, so a
# field may hold any bytes but NUL. The length is in bytes: counted by the
# shell itself when its ${#...} counts bytes (a two-byte UTF-8 letter says
# whether it does: dash always, bash and BusyBox under a C locale), else by
# wc. Reports are most of the processes a small script would start.
ferry_say() {
    ferry_w=$1
    shift
    ferry_n='é'
    if [ "${#ferry_n}" -eq 2 ]; then
        # printf writes its format once even with no fields: one NUL.
        ferry_n=$((0 + ($# == 0)))
        for ferry_say_f in "$@"; do ferry_n=$((ferry_n + ${#ferry_say_f} + 1)); done
    else
        ferry_n=$(printf '%s\0' "$@" | wc -c)
    fi
    { printf '%s %d\n' "$ferry_w" "$ferry_n" && printf '%s\0' "$@"; } >&3
}

# ferry_say_file WORD FILE: a report whose body is the bytes of FILE.
ferry_say_file() {
    { printf '%s %d\n' "$1" "$(wc -c <"$2")" && cat "$2"; } >&3
}

# ferry_fail MESSAGE: give up, saying why.
ferry_fail() {
    ferry_say error "$1"
    exit 1
}

# ferry_step_end INDEX STATUS: after step INDEX of the user's commands, stop
# the script with the step's status if it failed.
ferry_step_end() {
    if [ "$2" -ne 0 ]; then
        ferry_say failed "$1" "$2"
        exit "$2"
    fi
}

# ferry_root COMMAND...: as root, directly when root, else through sudo -n,
# which fails at once instead of waiting for a password nobody will type.
ferry_root() { if [ "${ferry_uid:=$(id -u)}" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

# ferry_env FILE: export the variables of FILE, a .env as ferry writes it:
# KEY=VALUE lines, VALUE bare, or in double quotes with \\, \", \$ and \n
# escaped (in single quotes it is taken as it is). The values are data:
# nothing in FILE is run or expanded, and a line that is not an assignment
# is skipped. A missing FILE is no error: before the first deploy there is none.
ferry_env() {
    [ -f "$1" ] || return 0
    while IFS= read -r ferry_l || [ -n "$ferry_l" ]; do
        ferry_l=${ferry_l#export }
        ferry_k=${ferry_l%%=*}
        [ "$ferry_k" != "$ferry_l" ] || continue
        case $ferry_k in '' | [0-9]* | *[!A-Za-z0-9_]* | ferry_*) continue ;; esac
        ferry_v=${ferry_l#*=}
        case $ferry_v in
        \"*\")
            ferry_v=${ferry_v#?}
            ferry_env_unquote "${ferry_v%?}"
            ;;
        \'*\')
            ferry_v=${ferry_v#?}
            ferry_v=${ferry_v%?}
            ;;
        esac
        export "$ferry_k=$ferry_v"
    done <"$1"
}

# ferry_env_unquote TEXT: ferry_v is TEXT with its escapes undone (\n is a
# newline, a backslash before any other character stands for that character).
ferry_env_unquote() {
    ferry_in=$1
    ferry_v=
    while :; do
        ferry_pre=${ferry_in%%\\*}
        ferry_v=$ferry_v$ferry_pre
        [ "$ferry_pre" != "$ferry_in" ] || return 0
        ferry_in=${ferry_in#*\\}
        ferry_rest=${ferry_in#?}
        ferry_c=${ferry_in%"$ferry_rest"}
        ferry_in=$ferry_rest
        if [ "$ferry_c" = n ]; then
            ferry_v="$ferry_v
"
        else
            ferry_v=$ferry_v$ferry_c
        fi
    done
}
