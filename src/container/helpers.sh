# Container releases on a host: the image's layers, its load, the one-off
# migration container and the switch from the old container to the new one.
# Sent after the release helpers, whose functions these call.

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

# ferry_ctr_check: can the SSH user run containers here? Prints what it
# found; reports `docker cli|engine|access` with docker's words when it cannot.
ferry_ctr_check() {
    if ! command -v docker >/dev/null 2>&1; then
        echo "docker: no docker command"
        ferry_say docker cli ""
        return 0
    fi
    if ferry_out=$(docker version --format '{{.Server.Version}}' 2>&1); then
        echo "docker: Docker Engine $ferry_out, usable by $(id -un)"
        return 0
    fi
    ferry_out=$(printf '%s\n' "$ferry_out" | grep -v '^ *$' | tail -n 1)
    echo "docker: $ferry_out"
    case $ferry_out in
    *"ermission denied"*) ferry_say docker access "$ferry_out" ;;
    *) ferry_say docker engine "$ferry_out" ;;
    esac
}

# ferry_ctr_running PREFIX: `containers` with the names of the app's
# containers running here (names are one word each).
ferry_ctr_running() {
    # shellcheck disable=SC2046 # one word per name
    ferry_say containers $(docker ps --filter "label=ferry.app=$1" --format '{{.Names}}')
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

# ferry_ctr_pull IMAGE REFERENCE REPO RELEASE REGISTRY USER: unless the
# engine holds IMAGE, `docker pull REFERENCE`, first logged in to REGISTRY as
# USER (when set) with $FERRY_REGISTRY_PASSWORD, in a throwaway DOCKER_CONFIG;
# the image must then be IMAGE; tagged REPO:RELEASE.
ferry_ctr_pull() {
    if ! docker image inspect "$1" >/dev/null 2>&1; then
        ferry_dc=$(mktemp -d) || exit 1
        if [ -n "$6" ]; then
            # printf is a builtin: the password is in no process's argv.
            if ! ferry_out=$(printf '%s' "$FERRY_REGISTRY_PASSWORD" |
                DOCKER_CONFIG=$ferry_dc docker login --username "$6" --password-stdin "$5" 2>&1); then
                rm -rf "$ferry_dc"
                ferry_fail "docker login $5 failed: $(printf '%s\n' "$ferry_out" | tail -n 1)"
            fi
        fi
        ferry_s=0
        ferry_out=$(DOCKER_CONFIG=$ferry_dc docker pull -q "$2" 2>&1) || ferry_s=$?
        rm -rf "$ferry_dc"
        [ "$ferry_s" -eq 0 ] || ferry_fail "docker pull $2 failed: $(printf '%s\n' "$ferry_out" | tail -n 1)"
    fi
    ferry_got=$(docker image inspect --format '{{.Id}}' "$1" 2>/dev/null) ||
        ferry_fail "the engine does not hold $1 after docker pull"
    [ "$ferry_got" = "$1" ] || ferry_fail "the image pulled is $ferry_got, not $1"
    docker tag "$1" "$3:$4" || ferry_fail "cannot tag the image $3:$4"
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

# ferry_ctr_up NAME REPO PORT PATH DEADLINE OPTION...: the live release's image
# runs as NAME-<release> on PORT or PORT+1, whichever the old container does
# not use, with OPTION...; once it answers on PATH, the app's other containers
# stop and images of releases no longer on the host go. If it does not answer
# within DEADLINE seconds it is removed and the old one keeps serving.
ferry_ctr_up() {
    ferry_pre=$1 ferry_repo=$2 ferry_port=$3 ferry_path=$4 ferry_dl=$5
    shift 5
    ferry_rel=$(readlink "$D/current") || { echo "$D/current is missing" >&2; exit 1; }
    ferry_rel=${ferry_rel##*/}
    ferry_img=$(cat "$D/current/IMAGE") || exit 1
    ferry_name="$ferry_pre-$ferry_rel"
    ferry_live=$(docker ps --filter "label=ferry.app=$ferry_pre" --format '{{.Names}} {{.Label "ferry.port"}}')
    ferry_new=$(printf '%s\n' "$ferry_live" | awk -v n="$ferry_name" '$1 == n { print $2 }')
    if [ -z "$ferry_new" ]; then
        ferry_new=$ferry_port
        if printf '%s\n' "$ferry_live" | awk -v p="$ferry_port" '$2 == p { f = 1 } END { exit !f }'; then
            ferry_new=$((ferry_port + 1))
        fi
        docker rm -f "$ferry_name" >/dev/null 2>&1 || :
        echo "starting $ferry_name on port $ferry_new" >&2
        docker run -d --init --name "$ferry_name" --restart unless-stopped --network host \
            -e "PORT=$ferry_new" --label "ferry.app=$ferry_pre" --label "ferry.port=$ferry_new" \
            --label "ferry.release=$ferry_rel" "$@" "$ferry_img" >/dev/null
    fi
    ferry_deadline=$(($(date +%s) + ferry_dl))
    until ferry_probe_url "http://127.0.0.1:$ferry_new$ferry_path" ""; do
        # A container that exited once (and was restarted since) has failed.
        ferry_state=$(docker inspect -f '{{.State.Running}} {{.RestartCount}}' "$ferry_name" 2>/dev/null) || :
        if [ "$ferry_state" != "true 0" ] || [ "$(date +%s)" -ge "$ferry_deadline" ]; then
            echo "$ferry_name does not answer on port $ferry_new ($ferry_body); its last lines:" >&2
            docker logs --tail 20 "$ferry_name" >&2 2>&1 || :
            docker rm -f "$ferry_name" >/dev/null 2>&1 || :
            echo "the old container keeps serving" >&2
            exit 1
        fi
        sleep 1
    done
    echo "$ferry_name answers on port $ferry_new" >&2
    for ferry_c in $(docker ps -a --filter "label=ferry.app=$ferry_pre" --format '{{.Names}}'); do
        if [ "$ferry_c" != "$ferry_name" ]; then
            echo "stopping $ferry_c" >&2
            docker stop -t 10 "$ferry_c" >/dev/null && docker rm "$ferry_c" >/dev/null
        fi
    done
    for ferry_t in $(docker image ls "$ferry_repo" --format '{{.Tag}}'); do
        if [ ! -d "$D/releases/$ferry_t" ]; then
            docker rmi "$ferry_repo:$ferry_t" >/dev/null 2>&1 || :
        fi
    done
}

# ferry_ctr_exec CURRENT NAME ARG...: ARG... in the live container of NAME,
# the one of the release CURRENT points at.
ferry_ctr_exec() {
    ferry_rel=$(readlink "$1") || {
        echo "no live release at $1" >&2
        exit 1
    }
    ferry_name="$2-${ferry_rel##*/}"
    shift 2
    docker exec "$ferry_name" "$@"
}

# ferry_ctr_status CURRENT NAME: the live container's state; fails unless it runs.
ferry_ctr_status() {
    ferry_rel=$(readlink "$1") || {
        echo "no live release at $1" >&2
        exit 1
    }
    ferry_name="$2-${ferry_rel##*/}"
    ferry_state=$(docker inspect -f '{{.State.Status}} since {{.State.StartedAt}}, port {{index .Config.Labels "ferry.port"}}, image {{.Image}}' "$ferry_name" 2>&1) || {
        echo "$ferry_name: $ferry_state" >&2
        exit 1
    }
    echo "$ferry_name: $ferry_state"
    case "$ferry_state" in running*) ;; *) exit 1 ;; esac
}

# ferry_ctr_restart CURRENT NAME: `docker restart` of the live container (it
# does not answer while it restarts).
ferry_ctr_restart() {
    ferry_rel=$(readlink "$1") || {
        echo "no live release at $1" >&2
        exit 1
    }
    docker restart "$2-${ferry_rel##*/}"
}
