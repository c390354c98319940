# Container releases on a host: the image's layers, its load, the one-off
# migration container, and the app's containers as the switch's slots
# (switch/helpers.sh stops them and checks they run; these start and probe
# them). Sent after the release and slot helpers, whose functions these call.

# ferry_ctr_layers IMAGE: `has-image` when the engine holds IMAGE; otherwise
# one `layers` report per image it holds: its layers' diff ids, bottom first.
ferry_ctr_layers() {
    command -v docker >/dev/null 2>&1 || ferry_fail "docker is not installed on this host"
    ferry_err=$(docker info 2>&1 >/dev/null) || ferry_fail "the Docker Engine does not answer: $(printf '%s' "$ferry_err" | tail -n 1)"
    if docker image inspect "$1" >/dev/null 2>&1; then
        ferry_say has-image
        return 0
    fi
    ferry_ids=$(docker image ls -q --no-trunc | sort -u)
    [ -n "$ferry_ids" ] || return 0
    # shellcheck disable=SC2086 # one id per word
    docker image inspect --format '{{range .RootFS.Layers}}{{.}} {{end}}' $ferry_ids |
        while read -r ferry_line; do
            # shellcheck disable=SC2086 # one field per layer
            ferry_say layers $ferry_line
        done
}

# ferry_ctr_load IMAGE REPO RELEASE: `docker load` the archive on stdin unless
# the engine holds IMAGE; the image must then be IMAGE; tagged REPO:RELEASE.
ferry_ctr_load() {
    if ! docker image inspect "$1" >/dev/null 2>&1; then
        ferry_out=$(docker load 2>&1) || ferry_fail "docker load failed: $ferry_out"
    fi
    ferry_got=$(docker image inspect --format '{{.Id}}' "$1" 2>/dev/null) ||
        ferry_fail "the engine does not hold $1 after docker load"
    [ "$ferry_got" = "$1" ] || ferry_fail "the image loaded is $ferry_got, not $1"
    docker tag "$1" "$2:$3" || ferry_fail "cannot tag the image $2:$3"
}

# ferry_ctr_save IMAGE: the `docker save` archive of IMAGE, as one `archive`
# report (a promotion or a resumed deploy ships the image a host runs).
ferry_ctr_save() {
    ferry_t=$(mktemp) || ferry_fail "cannot create a temporary file"
    if ! ferry_err=$(docker save "$1" 2>&1 >"$ferry_t"); then
        rm -f "$ferry_t"
        ferry_fail "cannot save $1 here: $ferry_err"
    fi
    ferry_say_file archive "$ferry_t"
    rm -f "$ferry_t"
}

# ferry_ctr_migrate N OPTION*N ARG...: in the release's directory, a one-off
# container of its image with the N options, running ARG...
ferry_ctr_migrate() {
    ferry_img=$(cat "$R/IMAGE") || exit 1
    ferry_n=$1
    shift
    ferry_k=$#
    ferry_i=0
    # The image goes between the options and the command.
    for ferry_a in "$@"; do
        if [ "$ferry_i" -eq "$ferry_n" ]; then set -- "$@" "$ferry_img"; fi
        set -- "$@" "$ferry_a"
        ferry_i=$((ferry_i + 1))
    done
    shift "$ferry_k"
    echo "migrating in a one-off container of $ferry_img" >&2
    docker run --rm --init --network host "$@"
}

# ferry_ctr_start LINK NAME SLOT PORT OPTION...: slot SLOT's container,
# NAME-SLOT, runs the image of the release LINK points at, on PORT, with
# OPTION... (the switch's runner calls it as ferry_start_SLOT). What held the
# slot before goes first, and so does any container of the app on PORT (one
# started before slots).
ferry_ctr_start() {
    ferry_img=$(cat "$1/IMAGE") || ferry_fail "$1 names no image"
    ferry_rel=$(readlink "$1") || ferry_fail "$1 is missing"
    ferry_rel=${ferry_rel##*/}
    ferry_app=$2 ferry_slot=$3 ferry_port=$4
    ferry_c="$2-$3"
    shift 4
    for ferry_o in $(docker ps -aq --filter "label=ferry.app=$ferry_app" --filter "label=ferry.port=$ferry_port"); do
        docker rm -f "$ferry_o" >/dev/null || :
    done
    docker rm -f "$ferry_c" >/dev/null 2>&1 || :
    echo "starting $ferry_c on port $ferry_port: release $ferry_rel, image $ferry_img" >&2
    docker run -d --init --name "$ferry_c" --restart unless-stopped --network host \
        -e "PORT=$ferry_port" --label "ferry.app=$ferry_app" --label "ferry.slot=$ferry_slot" \
        --label "ferry.port=$ferry_port" --label "ferry.release=$ferry_rel" "$@" "$ferry_img" >/dev/null
}

# ferry_ctr_probe NAME URL: one try of a slot's probe; true when URL answers
# 2xx. Returns 2 (give up) once the container NAME has exited, even if it was
# restarted since, and shows its last lines.
ferry_ctr_probe() {
    ferry_probe_url "$2" "" && return 0
    ferry_state=$(docker inspect -f '{{.State.Running}} {{.RestartCount}}' "$1" 2>/dev/null) || :
    [ "$ferry_state" = "true 0" ] && return 1
    ferry_logs=$(docker logs --tail 20 "$1" 2>&1)
    printf '%s exited; its last lines:\n%s\n' "$1" "$ferry_logs" >&2
    ferry_body="$1 exited: $(printf '%s' "$ferry_logs" | tail -n 3 | tr '\n' ' ')"
    return 2
}

# ferry_ctr_prune NAME REPO: after a switch, containers of the app from
# before slots go, and so do images REPO:<release> of releases no longer on
# the host.
ferry_ctr_prune() {
    for ferry_c in $(docker ps -a --filter "label=ferry.app=$1" --format '{{.Names}} {{.Label "ferry.slot"}}' | awk 'NF == 1 { print $1 }'); do
        echo "removing $ferry_c, started before slots" >&2
        docker rm -f "$ferry_c" >/dev/null || :
    done
    for ferry_t in $(docker image ls "$2" --format '{{.Tag}}'); do
        if [ ! -d "$D/releases/$ferry_t" ]; then
            docker rmi "$2:$ferry_t" >/dev/null 2>&1 || :
        fi
    done
}

# ferry_ctr_live UPSTREAM NAME: the live container's name in ferry_name:
# NAME-<slot>, the slot the upstream file names (a before the first switch).
ferry_ctr_live() {
    ferry_s=$(sed -n '1s/^# ferry: slot \([ab]\) .*/\1/p' "$1" 2>/dev/null)
    ferry_name="$2-${ferry_s:-a}"
}

# ferry_ctr_exec UPSTREAM NAME ARG...: ARG... in the live container of NAME.
ferry_ctr_exec() {
    ferry_ctr_live "$1" "$2"
    shift 2
    docker exec "$ferry_name" "$@"
}
