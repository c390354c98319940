# ferry slots: a service run in two slots, a and b, behind nginx, moved to
# a new release without dropping a request. What runs in a slot is the
# runner's business (a supervisor program `<unit>-<slot>`, a systemd
# instance `<unit>@<slot>`, a container `<unit>-<slot>` that the script's
# ferry_start_<slot> runs); the slot's link, its health probe and nginx's
# upstream file are this file's. POSIX sh; D is deploy_to. On a host:
#
#   $D/slots/<service>-<slot> -> ../releases/<id>   the release the slot runs
#   $D/slots/<service>.conf   nginx's upstream; its first line names the live slot
#
# Both are replaced by rename(2), like `current`: a reader sees the old one
# or the new one. A slot started fresh runs exactly its release's code and
# virtualenv; a release a slot points at is never removed (ferry_remove).

# The probe, shared with the release helpers' ferry_health (a deploy's
# probe of a host) and used per slot by ferry_slot_health.

# ferry_get URL FILE HEADER...: print the HTTP status; the body goes to
# FILE. Each HEADER (`Name: value`) goes with the request as it is.
ferry_get() {
    ferry_url=$1
    ferry_out=$2
    shift 2
    if command -v curl >/dev/null 2>&1; then
        ferry_n=$#
        while [ "$ferry_n" -gt 0 ]; do
            set -- "$@" -H "$1"
            shift
            ferry_n=$((ferry_n - 1))
        done
        curl -sS --max-time 5 "$@" -o "$ferry_out" -w '%{http_code}' -- "$ferry_url"
    elif command -v python3 >/dev/null 2>&1; then
        python3 -c '
import sys, urllib.request, urllib.error
request = urllib.request.Request(sys.argv[1])
for header in sys.argv[3:]:
    name, _, value = header.partition(":")
    request.add_header(name, value.strip())
try:
    response = urllib.request.urlopen(request, timeout=5)
except urllib.error.HTTPError as error:
    response = error
except OSError as error:
    print(error, end=""); sys.exit(0)
open(sys.argv[2], "wb").write(response.read()); print(response.status, end="")' "$ferry_url" "$ferry_out" "$@"
    elif command -v wget >/dev/null 2>&1; then
        ferry_n=$#
        while [ "$ferry_n" -gt 0 ]; do
            set -- "$@" "--header=$1"
            shift
            ferry_n=$((ferry_n - 1))
        done
        if wget -q -T 5 --content-on-error "$@" -O "$ferry_out" -- "$ferry_url"; then printf 200; else printf 'an error status'; fi
    else
        printf 'no curl, python3 or wget here to probe with'
    fi
}

# ferry_probe_url URL EXPECT HEADER...: one try; true when URL answers 2xx
# (with EXPECT in the body, unless empty), asked with each HEADER.
# ferry_body says what it got.
ferry_probe_url() {
    ferry_h="$D/.ferry/health.$$"
    ferry_expect=$2
    ferry_u=$1
    shift 2
    ferry_code=$(ferry_get "$ferry_u" "$ferry_h" "$@" 2>"$ferry_h.err")
    ferry_body=$(cat "$ferry_h" "$ferry_h.err" 2>/dev/null | head -c 300)
    rm -f "$ferry_h" "$ferry_h.err"
    case "$ferry_code" in
    2??)
        case "$ferry_body" in
        *"$ferry_expect"*) return 0 ;;
        *)
            ferry_body="the response lacks the expected text: $ferry_body"
            return 1
            ;;
        esac
        ;;
    000 | '') ferry_body="no answer: $ferry_body" ;;
    *) ferry_body="HTTP $ferry_code: $ferry_body" ;;
    esac
    return 1
}

# ferry_slot_as COMMAND...: as root unless the service says sudo = false.
ferry_slot_as() { if [ -n "$ferry_slot_root" ]; then ferry_root "$@"; else "$@"; fi; }

# ferry_slot_use RUNNER UNIT ROOT: the slots' runner (supervisor, systemd
# or container), the program, unit or container the slots are named after,
# and whether to drive it as root.
ferry_slot_use() {
    ferry_slot_runner=$1
    ferry_slot_unit=$2
    ferry_slot_root=$3
}

# ferry_slot_run ACTION SLOT: start, stop or restart one slot's instance.
# A systemd instance that runs is enabled, one that stops is disabled, so a
# reboot brings back the live slot. A container slot starts afresh from its
# release's image (the script defines ferry_start_<slot>); it stops within
# 10 s and is removed.
ferry_slot_run() {
    case $ferry_slot_runner in
    container)
        case $1 in
        stop) docker stop -t 10 "$ferry_slot_unit-$2" >/dev/null && docker rm "$ferry_slot_unit-$2" >/dev/null ;;
        *) "ferry_start_$2" ;;
        esac
        ;;
    supervisor) ferry_slot_as supervisorctl "$1" "$ferry_slot_unit-$2" >&2 ;;
    systemd)
        ferry_slot_as systemctl "$1" "$ferry_slot_unit@$2" >&2 || return 1
        if [ "$1" = stop ]; then
            ferry_slot_as systemctl disable --quiet "$ferry_slot_unit@$2"
        else
            ferry_slot_as systemctl enable --quiet "$ferry_slot_unit@$2"
        fi
        ;;
    *) ferry_fail "no runner for slots: $ferry_slot_runner" ;;
    esac
}

# ferry_slot_running SLOT: true when the slot's instance runs.
ferry_slot_running() {
    case $ferry_slot_runner in
    supervisor) ferry_slot_as supervisorctl status "$ferry_slot_unit-$1" 2>/dev/null | grep -q RUNNING ;;
    systemd) ferry_slot_as systemctl is-active --quiet "$ferry_slot_unit@$1" ;;
    container) [ "$(docker inspect -f '{{.State.Running}}' "$ferry_slot_unit-$1" 2>/dev/null)" = true ] ;;
    *) return 1 ;;
    esac
}

# ferry_slot_live SERVICE: the slot nginx sends SERVICE's requests to, in
# ferry_live; empty before the first switch.
ferry_slot_live() {
    ferry_live=$(sed -n '1s/^# ferry: slot \([ab]\) .*/\1/p' "$D/slots/$1.conf" 2>/dev/null)
}

# ferry_slot_link SERVICE SLOT ID: the slot runs release ID from now on.
ferry_slot_link() {
    ferry_l="$D/slots/$1-$2"
    if ! { ln -s "../releases/$3" "$ferry_l.tmp-$$" && mv -T "$ferry_l.tmp-$$" "$ferry_l"; }; then
        rm -f "$ferry_l.tmp-$$"
        ferry_fail "cannot point $ferry_l at release $3"
    fi
}

# ferry_slot_health SERVICE SLOT DEADLINE INTERVAL: ferry_probe_SLOT (the
# script defines one per slot, on the slot's own port) until it passes, or
# until it returns 2 (it will never pass: a container that exited). A slot
# that never passes is stopped; nginx never saw it.
ferry_slot_health() {
    ferry_say activity "health check of $1, slot $2"
    ferry_deadline=$(($(date +%s) + $3))
    ferry_body=
    ferry_try=0
    while :; do
        ferry_p=0
        "ferry_probe_$2" || ferry_p=$?
        [ "$ferry_p" -eq 0 ] && break
        if [ "$ferry_p" -eq 2 ] || [ "$(date +%s)" -ge "$ferry_deadline" ]; then
            ferry_slot_run stop "$2" || :
            ferry_say unhealthy "$1 slot $2: $(printf '%s' "$ferry_body" | tail -c 300 | tr '\n' ' ')"
            exit 1
        fi
        ferry_try=$((ferry_try + 1))
        ferry_wait "$ferry_try" "$4"
    done
}

# ferry_nginx_reload: nginx re-reads its configuration gracefully: new
# workers take new requests, the old ones finish what they hold.
ferry_nginx_reload() {
    if [ -d /run/systemd/system ] && ferry_root systemctl is-active --quiet nginx 2>/dev/null; then
        ferry_root systemctl reload nginx
    else
        ferry_root nginx -s reload
    fi
}

# ferry_upstream SERVICE NAME SLOT ADDRESS ID NGINX: nginx's upstream NAME
# sends to ADDRESS, slot SLOT of SERVICE running release ID. The file is
# replaced by rename(2) and, with NGINX, checked with nginx -t (the old one
# is put back if nginx refuses it) before nginx reloads; without, it only
# says which slot is live (a container without switch = "upstream").
ferry_upstream() {
    ferry_u="$D/slots/$1.conf"
    {
        printf '# ferry: slot %s of %s, release %s; written by ferry deploys, replaced by rename\n' "$3" "$1" "$5" &&
            printf 'upstream %s {\n    server %s fail_timeout=0;\n}\n' "$2" "$4"
    } >"$ferry_u.tmp-$$" || ferry_fail "cannot write $ferry_u"
    # nginx's master reads it as root, its workers need not; others may read it.
    chmod 644 "$ferry_u.tmp-$$" || ferry_fail "cannot write $ferry_u"
    rm -f "$ferry_u.was"
    if [ -f "$ferry_u" ]; then cp -p "$ferry_u" "$ferry_u.was" || ferry_fail "cannot keep a copy of $ferry_u"; fi
    mv -f "$ferry_u.tmp-$$" "$ferry_u" || ferry_fail "cannot replace $ferry_u"
    if [ -z "$6" ]; then
        rm -f "$ferry_u.was"
        return 0
    fi
    if ! ferry_n=$(ferry_root nginx -t 2>&1); then
        if [ -f "$ferry_u.was" ]; then mv -f "$ferry_u.was" "$ferry_u"; fi
        ferry_fail "nginx -t refuses the configuration with $ferry_u: $(printf '%s' "$ferry_n" | tail -c 400)"
    fi
    rm -f "$ferry_u.was"
    ferry_nginx_reload >&2 || ferry_fail "nginx did not reload"
}

# ferry_slot_switch SERVICE UPSTREAM ADDR_A ADDR_B DRAIN DEADLINE INTERVAL
# FORCE NGINX: SERVICE moves to the release `current` points at, with no gap:
# the idle slot (the one nginx does not send to) runs that release and is
# probed directly, then nginx's upstream moves to it, then the old slot
# drains for DRAIN seconds and stops. Without FORCE nothing happens when
# the live slot already runs that release (a resumed deploy, a put-back on
# a host the deploy never moved). Without NGINX, the upstream file only
# records the live slot. ferry_slot_use comes first.
ferry_slot_switch() {
    ferry_id=$(readlink "$D/current") || ferry_fail "$D/current is missing"
    ferry_id=${ferry_id##*/}
    mkdir -p "$D/slots" || ferry_fail "cannot create $D/slots"
    ferry_slot_live "$1"
    if [ -z "$8" ] && [ -n "$ferry_live" ] &&
        [ "$(readlink "$D/slots/$1-$ferry_live")" = "../releases/$ferry_id" ] &&
        ferry_slot_running "$ferry_live"; then
        echo "$1: slot $ferry_live already serves release $ferry_id" >&2
        return 0
    fi
    ferry_new=a
    ferry_addr=$3
    if [ "$ferry_live" = a ]; then
        ferry_new=b
        ferry_addr=$4
    fi
    ferry_say activity "$1: slot $ferry_new starts release $ferry_id"
    ferry_slot_link "$1" "$ferry_new" "$ferry_id"
    ferry_action=start
    if ferry_slot_running "$ferry_new"; then ferry_action=restart; fi
    ferry_slot_run "$ferry_action" "$ferry_new" || ferry_fail "$1: slot $ferry_new ($ferry_slot_unit) did not start"
    ferry_slot_health "$1" "$ferry_new" "$6" "$7"
    ferry_upstream "$1" "$2" "$ferry_new" "$ferry_addr" "$ferry_id" "$9"
    if [ -n "$9" ]; then
        echo "$1: nginx sends requests to slot $ferry_new ($ferry_addr), release $ferry_id" >&2
    else
        echo "$1: slot $ferry_new ($ferry_addr) serves release $ferry_id" >&2
    fi
    if [ -n "$ferry_live" ]; then
        ferry_say activity "$1: slot $ferry_live drains for $5 s, then stops"
        sleep "$5"
        ferry_slot_run stop "$ferry_live" || echo "$1: slot $ferry_live did not stop cleanly" >&2
    fi
}

# ferry_slot_control ACTION SERVICE: start the live slot (slot a before the
# first switch), stop both, or the status of each.
ferry_slot_control() {
    ferry_slot_live "$2"
    case $1 in
    start) ferry_slot_run start "${ferry_live:-a}" ;;
    stop)
        ferry_s=0
        for ferry_slot in a b; do
            if ferry_slot_running "$ferry_slot"; then ferry_slot_run stop "$ferry_slot" || ferry_s=1; fi
        done
        return "$ferry_s"
        ;;
    status)
        [ "$ferry_slot_runner" = container ] || echo "$2: nginx sends to slot ${ferry_live:-a}"
        case $ferry_slot_runner in
        supervisor) ferry_slot_as supervisorctl status "$ferry_slot_unit-a" "$ferry_slot_unit-b" || :
            ferry_slot_running "${ferry_live:-a}" ;;
        container)
            ferry_c="$ferry_slot_unit-${ferry_live:-a}"
            ferry_state=$(docker inspect -f '{{.State.Status}} since {{.State.StartedAt}}, port {{index .Config.Labels "ferry.port"}}, release {{index .Config.Labels "ferry.release"}}, image {{.Image}}' "$ferry_c" 2>&1) || {
                echo "$ferry_c: $ferry_state"
                return 1
            }
            echo "$ferry_c: $ferry_state"
            case "$ferry_state" in running*) ;; *) return 1 ;; esac
            ;;
        *) ferry_slot_as systemctl status --no-pager --lines=0 "$ferry_slot_unit@${ferry_live:-a}" ;;
        esac
        ;;
    esac
}
