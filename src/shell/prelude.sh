# A script calls only some of the helpers (SC2317), and quoted literals hold
# $ and backquotes as data (SC2016).
# shellcheck disable=SC2317,SC2016
# ferry: what every script ferry sends to a host starts with. POSIX sh.
# fd 3 is ferry's channel (see src/protocol.rs): reports go there as frames,
# and only through ferry_say. Everything else a script prints is output for
# the user; commands the user wrote run with fd 3 closed.

# ferry_say WORD [FIELD...]: one report. Each field ends with a NUL, so a
# field may hold any bytes but NUL; the length is counted in bytes by wc.
ferry_say() {
    ferry_w=$1
    shift
    ferry_n=$(printf '%s\0' "$@" | wc -c)
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
ferry_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }
