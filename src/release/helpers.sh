# ferry releases: the operations on the layout of src/release/mod.rs, one
# function each. A script carries the functions it calls (see
# src/shell/library.rs), then sets D (deploy_to) and L (the lock), then
# calls them with quoted arguments. POSIX sh with GNU coreutils or BusyBox
# (promotion also needs GNU tar). Reports go
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
# (its first run was cut) writes its line once. A finish marks itself
# begun ($D/.ferry/finishing, removed by ferry_done), so the history is
# searched only after one was cut.
ferry_history_once() {
    ferry_begun=
    IFS= read -r ferry_begun 2>/dev/null <"$D/.ferry/finishing" || :
    if [ "$ferry_begun" = "$1 $2" ]; then
        if [ -f "$D/.ferry/history.jsonl" ] &&
            grep -F "\"event\":\"$1\",\"release\":\"$2\"" "$D/.ferry/history.jsonl" | grep -qF '"result":"ok"'; then
            return 0
        fi
    else
        printf '%s\n' "$1 $2" >"$D/.ferry/finishing" || ferry_fail "cannot write $D/.ferry/finishing"
    fi
    ferry_history "$3"
}

# ferry_tools: the tools release scripts need that the host lacks, in
# $ferry_missing (space-separated).
ferry_tools() {
    ferry_missing=
    for ferry_tool in tar gzip sha256sum cp mv ln readlink awk sort xargs sed stat head tr wc dd; do
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
    [ -d "$D/releases" ] && [ -d "$D/shared" ] && [ -d "$D/.ferry" ] ||
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
            # Written in place: until it is, the lock reads as one being taken.
            printf '%s\n' "$1" >"$L/info" || ferry_fail "cannot write $L/info"
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
        ferry_text_of "$ferry_r/.ferry/release.json"
        ferry_say release "${ferry_r##*/}" "$ferry_text"
    done
    if [ -f "$D/.ferry/deploy.json" ]; then
        ferry_text_of "$D/.ferry/deploy.json"
        ferry_say pending "$ferry_text"
    fi
}

# ferry_text_of FILE: $ferry_text is the text of FILE (a record ferry
# wrote: one line of JSON), its trailing newlines dropped as $(cat FILE)
# would drop them, or empty when it cannot be read. Read by the shell
# itself: a survey reads one per release, and a process each would be
# most of its cost.
ferry_text_of() {
    ferry_text=
    [ -f "$1" ] && [ -r "$1" ] || return 0
    ferry_sep=
    while IFS= read -r ferry_line || [ -n "$ferry_line" ]; do
        ferry_text="$ferry_text$ferry_sep$ferry_line"
        ferry_sep='
'
    done <"$1"
    while :; do
        case $ferry_text in
        *'
') ferry_text=${ferry_text%?} ;;
        *) return 0 ;;
        esac
    done
}

# ferry_live KNOWN: the digest of the live release's manifest, and the
# manifest itself (gzipped) unless the digest's first 16 characters are
# among KNOWN (space-separated: the manifests ferry has already). Only for a
# release made with the store: its files are read-only links to the bytes
# its manifest names, so nothing is hashed here. `--check` runs this, and
# must change nothing.
ferry_live() {
    [ -n "$ferry_c" ] && [ -f "$D/current/.ferry/stored" ] && [ -f "$D/current/.ferry/manifest" ] || return 0
    # The upload wrote the digest it checked the manifest against; a release
    # made before it did is hashed.
    ferry_sum=
    IFS= read -r ferry_sum 2>/dev/null <"$D/current/.ferry/digest" || :
    if [ -z "$ferry_sum" ]; then
        ferry_sum=$(sha256sum <"$D/current/.ferry/manifest") || ferry_fail "cannot read the live release's manifest"
        ferry_sum=${ferry_sum%% *}
    fi
    ferry_say live "$ferry_sum"
    case " $1 " in *" $(printf '%.16s' "$ferry_sum") "*) return 0 ;; esac
    ferry_t=$(mktemp) || ferry_fail "cannot create a temporary file"
    if gzip -c <"$D/current/.ferry/manifest" >"$ferry_t"; then ferry_say_file live-manifest "$ferry_t"; fi
    rm -f "$ferry_t"
}

# ferry_upload_begin ID PENDING: the deploy of release ID is under way
# (PENDING is its record, for resume); nothing to do if it is uploaded.
ferry_upload_begin() {
    ID=$1
    R="$D/releases/$ID"
    T="$D/releases/.$ID.partial"
    # The pending deploy's record and its release id, renamed into place in one mv.
    [ -d "$D/.ferry/.new" ] || mkdir -p "$D/.ferry/.new" || ferry_fail "cannot create $D/.ferry/.new"
    { printf '%s\n' "$2" >"$D/.ferry/.new/deploy.json" && printf '%s\n' "$ID" >"$D/.ferry/.new/deploy.release" &&
        mv -f "$D/.ferry/.new/deploy.json" "$D/.ferry/.new/deploy.release" "$D/.ferry/"; } ||
        ferry_fail "cannot write $D/.ferry/deploy.json"
    # The lock now names its release, so `deploy:resume=yes` may take it
    # over. Written in place: the lock is ours, and no one reads it while
    # its keeper lives.
    printf '%s\n' "$ID" >"$L/release" || ferry_fail "cannot write $L/release"
    # Held to the end of the upload: an upload of this release still running
    # from a run that lost its connection finishes (or fails) first.
    ferry_store_take
    if [ -d "$R" ]; then
        ferry_store_give
        ferry_say uploaded already
        exit 0
    fi
    if [ -e "$T" ]; then rm -rf "$T" || ferry_fail "cannot remove $T"; fi
    mkdir -p "$T/.ferry" || ferry_fail "cannot create $T"
}

# ferry_put FILE TEXT: FILE holds TEXT, as it is (a file no one reads
# before the script is done with it: the upload's lists in the lock's
# directory, a file of the release being made).
ferry_put() {
    printf '%s' "$2" >"$1" || ferry_fail "cannot write $1"
}

# The content store: $D/.ferry/store/<sha256>-<mode> holds one read-only
# inode per content and mode (write bits cleared: 0444, 0555), and every
# release's files are hard links to it. An unchanged file costs a link, not
# a copy, and an older release never changes when a new one is written: a
# build cannot write into a shared file (it is read-only, and the deploy
# user is not root), only replace it, which breaks the link. The store
# directory itself is writable only while an upload or the collector holds
# $D/.ferry/store.lock.

# ferry_store_names: manifest lines on stdin, their file entries out as
# "STORE-NAME<tab>PATH<tab>DIGEST<tab>MODE", MODE with its write bits cleared
# (the same name `manifest::Entry::store_name` gives).
ferry_store_names() {
    ferry_awk '$1 == "f" { r = substr($2, 1, 1) ro(substr($2, 2)); print $3 "-" r "\t" $5 "\t" $3 "\t" r }'
}

# ferry_awk PROGRAM [-v NAME=VALUE]...: awk -F'\t' running PROGRAM on
# stdin, with ro(MODE) defined: the octal MODE's digits with their write
# bits cleared, as a store name has them.
ferry_awk() {
    ferry_prog=$1
    shift
    awk -F'\t' "$@" 'function ro(m, o, i) {
        o = ""
        for (i = 1; i <= length(m); i++) o = o substr("01014545", substr(m, i, 1) + 1, 1)
        return o
    }
    '"$ferry_prog"
}

# ferry_store_take: hold the store's lock, waiting (up to a minute) for the
# collector or an upload; a lock whose holder is gone is taken over. The
# store is writable while it is held.
ferry_store_take() {
    [ -d "$D/.ferry/store" ] || mkdir -p "$D/.ferry/store" || ferry_fail "cannot create $D/.ferry/store"
    ferry_tries=0
    until mkdir "$D/.ferry/store.lock" 2>/dev/null; do
        ferry_pid=$(head -c 32 "$D/.ferry/store.lock/pid" 2>/dev/null)
        if [ -n "$ferry_pid" ] && ! kill -0 "$ferry_pid" 2>/dev/null; then
            rm -rf "$D/.ferry/store.lock"
            continue
        fi
        ferry_tries=$((ferry_tries + 1))
        [ "$ferry_tries" -lt 300 ] || ferry_fail "the store of $D is held by process ${ferry_pid:-?}"
        sleep 0.2
    done
    echo "$$" >"$D/.ferry/store.lock/pid"
    chmod u+w "$D/.ferry/store" || ferry_fail "cannot open $D/.ferry/store"
}

# ferry_store_give: the store read-only again, and its lock freed.
ferry_store_give() {
    chmod a-w "$D/.ferry/store" 2>/dev/null
    rm -rf "$D/.ferry/store.lock"
}

# ferry_link_kept BASE: the live release BASE's files that the new release
# keeps (its manifest's file lines, less those in $L/drop) are listed in
# $L/keep and linked into the new release. Those of BASE that are still
# the store's inode are linked from BASE in one `cp -al` (it makes their
# directories too); a file a build replaced in BASE is linked from the
# store; one the store lacks (BASE came before the store) is taken from
# BASE into the store if its bytes are what the manifest says. One awk
# lists them, one stat (through xargs) reads every inode involved, one awk
# sorts them out: the processes do not grow with BASE. Called by
# ferry_assemble, which sets ferry_tab.
ferry_link_kept() {
    ferry_b="$D/releases/$1"
    # The upload's lists are files of the lock's directory, which goes with
    # the lock (nothing to remove after). The awks run there, where the
    # files have fixed names: no path reaches awk through -v, which would
    # take a backslash in it for an escape. The paths listed for stat are
    # relative to BASE, the store's as ../../.ferry/store/ (a manifest path
    # never holds `..`).
    (cd "$L" && ferry_awk '
        BEGIN { while ((getline line < "drop") > 0) drop[line] = 1 }
        $1 == "f" && !($5 in drop) {
            print > "keep"
            r = substr($2, 1, 1) ro(substr($2, 2))
            n = $3 "-" r
            print n "\t" $5 "\t" $3 "\t" r > "names"
            print $5
            if (!(n in asked)) { asked[n] = 1; print "../../.ferry/store/" n }
        }
        END { printf "" > "keep"; printf "" > "names" }
    ' <"$ferry_b/.ferry/manifest" >ask) || ferry_fail "cannot read the manifest of release $1"
    tr '\n' '\0' <"$L/ask" | (cd "$ferry_b" && xargs -0 -r stat -c '%i %n' -- 2>/dev/null) >"$L/inodes" || :
    (cd "$L" && awk -F'\t' '
        FILENAME == ARGV[1] { i = index($0, " "); ino[substr($0, i + 1)] = substr($0, 1, i - 1); next }
        { st = "../../.ferry/store/" $1 }
        ($2 in ino) && (st in ino) && ino[$2] == ino[st] { print $2 > "same"; next }
        (st in ino) { print > "relink"; next }
        { print > "lost" }
        END { printf "" > "same"; printf "" > "relink"; printf "" > "lost" }
    ' inodes names) || ferry_fail "cannot read the manifest of release $1"
    tr '\n' '\0' <"$L/same" | (cd "$ferry_b" && xargs -0 -r cp -al --parents -t "$T" --) ||
        ferry_fail "cannot link the unchanged files of release $1"
    while IFS="$ferry_tab" read -r ferry_n ferry_p ferry_d ferry_m; do
        ferry_h=$(sha256sum <"$ferry_b/$ferry_p" 2>/dev/null)
        [ "${ferry_h%% *}" = "$ferry_d" ] ||
            ferry_fail "cannot keep $ferry_p: the store lacks it and the copy in release $1 is not what its manifest says"
        if ! { cp -- "$ferry_b/$ferry_p" "$D/.ferry/store/.$ferry_n.tmp" && chmod "$ferry_m" "$D/.ferry/store/.$ferry_n.tmp" &&
            mv -f -- "$D/.ferry/store/.$ferry_n.tmp" "$D/.ferry/store/$ferry_n"; }; then
            ferry_fail "cannot store $ferry_p"
        fi
        printf '%s\t%s\n' "$ferry_n" "$ferry_p" >>"$L/relink"
    done <"$L/lost"
    while IFS="$ferry_tab" read -r ferry_n ferry_p ferry_d ferry_m; do
        if ! { mkdir -p -- "$T/$(dirname -- "$ferry_p")" && ln -f -- "$D/.ferry/store/$ferry_n" "$T/$ferry_p"; }; then
            ferry_fail "cannot link $ferry_p from the store"
        fi
    done <"$L/relink"
}

# ferry_assemble BASE DIGEST DROP ADD: the new release from the live
# release BASE's unchanged files (ferry_link_kept) but the paths in DROP,
# and the tar stream on stdin, unpacked from $D: the changed files land in
# the store, and the release's entries are hard links to them. ADD holds
# the manifest lines of what was sent. The files sent are checked against
# their digests (each store name is `<sha256>-<mode>`), and the manifest,
# rebuilt, against the artifact's DIGEST, in one `sha256sum -c`.
ferry_assemble() {
    ferry_tab='	'
    ferry_put "$L/drop" "$3"
    ferry_put "$L/add" "$4"
    : >"$L/keep"
    if [ -n "$1" ] && [ -f "$D/releases/$1/.ferry/manifest" ]; then
        ferry_link_kept "$1"
    fi
    # From $D, not with -C: GNU tar reads `\t` and the like in -C's
    # directory as escapes.
    (cd "$D" && tar -xzpf - --no-same-owner) || ferry_fail "cannot unpack the files sent"
    LC_ALL=C sort -t "$ferry_tab" -k5,5 -o "$T/.ferry/manifest" "$L/keep" "$L/add" ||
        ferry_fail "cannot write the manifest of $ID"
    # Checked from $T: the store is ../../.ferry/store; DIGEST is hex.
    if ! ferry_awk '
        $1 == "f" { n = $3 "-" substr($2, 1, 1) ro(substr($2, 2)); if (!(n in seen)) { seen[n] = 1; print $3 "  ../../.ferry/store/" n } }
        END { print digest "  .ferry/manifest" }
    ' -v digest="$2" <"$L/add" | (cd "$T" && sha256sum -c >/dev/null 2>&1); then
        ferry_sum=$(sha256sum <"$T/.ferry/manifest")
        [ "${ferry_sum%% *}" = "$2" ] || ferry_fail "the files assembled for $ID do not match the artifact (digest mismatch)"
        ferry_fail "the files sent for $ID do not match their digests"
    fi
    printf '%s\n' "$2" >"$T/.ferry/digest" || ferry_fail "cannot write $T/.ferry/digest"
    : >"$T/.ferry/stored"
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
    ferry_held=
    IFS= read -r ferry_held 2>/dev/null <"$L/release" || :
    [ "$ferry_held" = "$ID" ] ||
        ferry_fail "the deploy lock is no longer held for $ID; leaving it unfinished"
    mv "$T" "$R" || ferry_fail "cannot rename $T to $R"
    ferry_store_give
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

# Virtualenvs: $D/.ferry/venvs/<key>, one per set of requirements, keyed by
# the requirements files' bytes, the interpreter's version and ferry's digest
# of the install commands; built once, read-only after, and linked into each
# release that needs it. The collector removes those no release names.

# ferry_venv PATH PYTHON SALT REQUIREMENT...: (in release $R) find or start
# the environment of these requirements, link it at PATH in the release,
# and put it first on PATH for the steps that follow. $ferry_vnew is set
# when it has yet to be installed (ferry_venv_done ends that).
ferry_venv() {
    ferry_vpath=$1
    ferry_vpy=$2
    ferry_vsalt=$3
    shift 3
    ferry_vver=$("$ferry_vpy" -c 'import sys; print(sys.version)') ||
        ferry_fail "cannot run $ferry_vpy to make the virtualenv"
    for ferry_r in "$@"; do
        [ -f "$ferry_r" ] || ferry_fail "the virtualenv's requirements file $ferry_r is not in the release"
    done
    ferry_vkey=$({ printf '%s\n%s\n' "$ferry_vsalt" "$ferry_vver" && cat -- "$@"; } | sha256sum) ||
        ferry_fail "cannot read the virtualenv's requirements"
    ferry_vkey=${ferry_vkey%% *}
    V="$D/.ferry/venvs/$ferry_vkey"
    mkdir -p "$D/.ferry/venvs" || ferry_fail "cannot create $D/.ferry/venvs"
    # Named before it is built: the collector never takes an environment a release names.
    ferry_write "$R/.ferry/venv" "$ferry_vkey"
    ferry_vnew=
    if [ -f "$V/.ferry-ready" ]; then
        echo "virtualenv $ferry_vkey: reused"
    else
        if [ -d "$V" ] && ! { chmod -R u+w "$V" && rm -rf "$V"; }; then
            ferry_fail "cannot remove the unfinished virtualenv $V"
        fi
        "$ferry_vpy" -m venv "$V" || ferry_fail "cannot make a virtualenv with $ferry_vpy"
        echo "virtualenv $ferry_vkey: built"
        ferry_vnew=yes
    fi
    if [ -e "$R/$ferry_vpath" ] && [ ! -L "$R/$ferry_vpath" ]; then
        ferry_fail "$ferry_vpath is in the release; [deploy.virtualenv] links it there"
    fi
    if ! { mkdir -p -- "$(dirname -- "$R/$ferry_vpath")" && ln -sfn -- "$V" "$R/$ferry_vpath"; }; then
        ferry_fail "cannot link $ferry_vpath to $V"
    fi
    VIRTUAL_ENV=$V
    PATH="$V/bin:$PATH"
    export VIRTUAL_ENV PATH
}

# ferry_venv_pip REQUIREMENT...: pip install -r each of them, in $V.
ferry_venv_pip() {
    for ferry_r in "$@"; do
        set -- "$@" -r "$ferry_r"
        shift
    done
    "$V/bin/pip" install --quiet "$@" || ferry_fail "pip install failed in the virtualenv"
}

# ferry_venv_done: the environment installed; read-only from now on.
ferry_venv_done() {
    if ! { : >"$V/.ferry-ready" && chmod -R a-w "$V"; }; then ferry_fail "cannot finish the virtualenv $V"; fi
}

# ferry_venvs_collect: remove the environments no release names.
ferry_venvs_collect() {
    [ -d "$D/.ferry/venvs" ] || return 0
    ferry_named=$(cat "$D"/releases/*/.ferry/venv "$D"/releases/.*.partial/.ferry/venv 2>/dev/null)
    for ferry_v in "$D"/.ferry/venvs/*; do
        [ -d "$ferry_v" ] || continue
        case "
$ferry_named
" in *"
${ferry_v##*/}
"*) continue ;;
        esac
        chmod -R u+w "$ferry_v" && rm -rf "$ferry_v"
    done
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
# DEADLINE seconds have gone by, every INTERVAL seconds (sooner at first:
# ferry_wait).
ferry_health() {
    ferry_say activity "health check $1"
    ferry_deadline=$(($(date +%s) + $2))
    ferry_try=0
    while :; do
        if ferry_probe; then
            ferry_say healthy
            return 0
        fi
        if [ "$(date +%s)" -ge "$ferry_deadline" ]; then
            ferry_say unhealthy "$(printf '%s' "$ferry_body" | tail -c 300 | tr '\n' ' ')"
            exit 1
        fi
        ferry_try=$((ferry_try + 1))
        ferry_wait "$ferry_try" "$3"
    done
}

# ferry_done ID: the deploy of ID has nothing left pending; what abandoned
# deploys left half-written goes.
ferry_done() {
    rm -f "$D/.ferry/deploy.json" "$D/.ferry/deploy.release" "$D/.ferry/finishing"
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
    [ -d "$D/.ferry/trash" ] || mkdir -p "$D/.ferry/trash" || ferry_fail "cannot create $D/.ferry/trash"
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
    ferry_collect
}

# ferry_collect: delete what is in the trash (the directory stays, for the
# next deploy's removals), then the store entries no release links to,
# detached from the session and at the lowest priority: it is housekeeping,
# and must not slow the app that just restarted. The collector holds the
# store's lock (the next upload waits for it); if another holds it, that
# one or the next collects.
ferry_collect() {
    if mkdir "$D/.ferry/store.lock" 2>/dev/null; then
        (cd / && ferry_lowest && rm -rf "$D/.ferry/trash"/* && ferry_store_collect) >/dev/null 2>&1 3>&- &
        echo "$!" >"$D/.ferry/store.lock/pid" 2>/dev/null
    else
        (cd / && ferry_lowest && exec rm -rf "$D/.ferry/trash"/*) >/dev/null 2>&1 3>&- &
    fi
}

# ferry_lowest: (in a subshell) run it, and what it starts, at the lowest
# priority. Its own pid comes from a child: $$ is the session's shell.
ferry_lowest() {
    renice -n 19 -p "$(exec sh -c 'echo "$PPID"')" >/dev/null 2>&1 || :
}

# ferry_store_collect: (holding the store's lock) remove the store entries
# with no link left but the store's own, unless a release's manifest still
# names one (a build replaced that release's copy: the next deploy keeping
# the file links it from here).
ferry_store_collect() {
    ferry_g="$D/.ferry/store"
    if [ -d "$ferry_g" ] && chmod u+w "$ferry_g"; then
        # From $D/.ferry, so that no path goes through awk -v.
        (cd "$D/.ferry" && find store -maxdepth 1 -type f -links 1 -name '*-*') >"$D/.ferry/store.lock/unlinked"
        if [ -s "$D/.ferry/store.lock/unlinked" ]; then
            # One cat for every manifest (a release without one has nothing to name).
            cat "$D"/releases/*/.ferry/manifest 2>/dev/null | ferry_store_names | (cd "$D/.ferry" && awk -F'\t' '
                { named["store/" $1] = 1 }
                END { while ((getline line < "store.lock/unlinked") > 0) if (!(line in named)) print line }
            ' | tr '\n' '\0' | xargs -0 -r rm -f --)
        fi
        rm -f "$ferry_g"/.*.tmp
    fi
    ferry_venvs_collect
    ferry_store_give
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
# (a line every few seconds); the survey that took it says `kept` and ends
# here, so the lock costs no session of its own, and neither do the
# scripts that run under it. Each command is a line, read by the shell
# itself (a byte at a time from a pipe: never past its end):
#   `s`, then SCRIPT PLEN\n PAYLOAD: run SCRIPT (see ferry_script) with
#       the PLEN bytes of PAYLOAD on its stdin, then say `ran` with its exit
#       code (and, when it failed, the last lines it printed), and keep
#       holding the lock;
#   `q`: as `s`, for a script whose output may wait for its end (ferry's
#       own work: it prints only when something is wrong);
#   `f`, then SCRIPT: run one last script (the deploy's finish), then
#       release the lock;
#   `r`: release the lock.
# The end of stdin, or no line for SILENCE seconds while no script runs
# (ferry_watch), leaves the lock behind, to read as stale.
ferry_keep() {
    echo "$$" >"$L/keeper"
    ferry_lines=0
    echo "idle 0" >"$L/beat"
    ferry_watch "$1" &
    ferry_watcher=$!
    ferry_say kept
    while IFS= read -r ferry_b; do
        ferry_lines=$((ferry_lines + 1))
        case "$ferry_b" in
        .) echo "idle $ferry_lines" >"$L/beat" ;;
        r)
            kill "$ferry_watcher" 2>/dev/null
            ferry_release 0
            ;;
        s | q)
            echo "busy $ferry_lines" >"$L/beat"
            ferry_keep_run "$ferry_b"
            echo "idle $ferry_lines" >"$L/beat"
            ;;
        f)
            kill "$ferry_watcher" 2>/dev/null
            ferry_s=0
            if ferry_script; then
                (eval "$ferry_f") </dev/null || ferry_s=$?
            else
                ferry_s=1
            fi
            ferry_release "$ferry_s"
            ;;
        *) break ;;
        esac
    done
    kill "$ferry_watcher" 2>/dev/null
    exit 0
}

# ferry_watch SILENCE: (in the background) end the keeper, its parent, once
# a SILENCE-second wait saw no new line from ferry while it was idle (a
# script that runs long is no silence). The counter it watches is the
# keeper's ($L/beat); without the lock it has nothing left to watch.
ferry_watch() {
    ferry_seen=
    exec 3>&- </dev/null >/dev/null 2>&1
    # Its sleep goes with it when the keeper lets go.
    trap 'kill "$ferry_nap" 2>/dev/null; exit 0' TERM
    while :; do
        sleep "$1" &
        ferry_nap=$!
        wait "$ferry_nap" || exit 0
        ferry_now=
        IFS= read -r ferry_now <"$L/beat" || exit 0
        case $ferry_now in
        '') ;; # read while the keeper rewrote it
        busy*) ferry_seen= ;;
        "$ferry_seen")
            # $$ is the session's shell in a subshell too: this watcher's
            # own pid comes from a child, and its parent from /proc.
            ferry_self=$(exec sh -c 'echo "$PPID"')
            read -r _ _ _ ferry_keeper _ <"/proc/$ferry_self/stat" && kill "$ferry_keeper" 2>/dev/null
            exit 0
            ;;
        *) ferry_seen=$ferry_now ;;
        esac
    done
}

# ferry_keep_run MODE: the keeper's `s` or `q` (MODE). The script's stdin
# is its payload alone, drained if it stops reading early, so that the next
# command starts where ferry wrote it. Its output also goes to $L/out: the
# session's stderr has no order against the reports, so a failed script's
# last lines travel in its `ran` report, which comes after everything it
# said. The script is the only writer of reports while it runs. With `s`
# its output goes to the session's stderr as it comes (through tee, its
# exit code out on fd 4); with `q`, once it ends, and only if there is any.
ferry_keep_run() {
    if ! { ferry_script && IFS= read -r ferry_plen; }; then
        kill "$ferry_watcher" 2>/dev/null
        exit 0
    fi
    if [ "$1" = q ] && [ "$ferry_plen" -eq 0 ]; then
        (eval "$ferry_f") </dev/null >"$L/out" 2>&1
        ferry_s=$?
    elif [ "$1" = q ]; then
        ferry_take "$ferry_plen" | {
            (eval "$ferry_f") >"$L/out" 2>&1
            ferry_s=$?
            cat >/dev/null
            exit "$ferry_s"
        }
        ferry_s=$?
    else
        ferry_s=$({ ferry_take "$ferry_plen" | {
            (eval "$ferry_f") 2>&1 4>&-
            ferry_s=$?
            [ "$ferry_plen" -eq 0 ] || cat >/dev/null
            echo "$ferry_s" >&4
        } | tee "$L/out" >&2; } 4>&1)
    fi
    [ "$1" = s ] || [ ! -s "$L/out" ] || cat "$L/out" >&2
    case $ferry_s in
    0)
        ferry_say ran 0
        return 0
        ;;
    '' | *[!0-9]*) ferry_s=1 ;; # the script's subshell was killed
    esac
    ferry_say ran "$ferry_s" "$(tail -n 5 "$L/out" | tail -c 2048)"
}

# ferry_script: ferry_f is the next script on stdin, in one of two frames:
# `+N` and N lines of text, read by the shell itself (a small script costs
# no process), or its length and the script gzipped, as the bootstrap
# reads one.
ferry_script() {
    IFS= read -r ferry_len || return 1
    case $ferry_len in
    +*)
        ferry_n=${ferry_len#+}
        case $ferry_n in '' | *[!0-9]*) return 1 ;; esac
        ferry_f=
        while [ "$ferry_n" -gt 0 ]; do
            IFS= read -r ferry_ln || return 1
            ferry_f="$ferry_f$ferry_ln
"
            ferry_n=$((ferry_n - 1))
        done
        ;;
    *) ferry_f=$(dd bs="$ferry_len" count=1 iflag=fullblock 2>/dev/null | gzip -dc) ;;
    esac
}

# ferry_take LEN: exactly LEN bytes of stdin to stdout, and not a byte
# more, in blocks of 64 KiB (a payload may be larger than memory allows
# one block to be) and one for the rest.
ferry_take() {
    ferry_tk=$(($1 / 65536))
    [ "$ferry_tk" -eq 0 ] || dd bs=65536 count="$ferry_tk" iflag=fullblock 2>/dev/null
    ferry_tk=$(($1 % 65536))
    [ "$ferry_tk" -eq 0 ] || dd bs="$ferry_tk" count=1 iflag=fullblock 2>/dev/null
}

# ferry_release STATUS: remove the lock, say so, and end with STATUS.
ferry_release() {
    rm -rf "$L"
    ferry_say released
    exit "$1"
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

# ferry_pack ID: the files of release ID that its manifest lists, as one
# gzipped tar report (promotion rebuilds the artifact from it and checks its
# digest). Written to a private temporary file, never into the layout.
ferry_pack() {
    [ -f "$D/releases/$1/.ferry/manifest" ] || ferry_fail "release $1 has no manifest on this host"
    ferry_t=$(mktemp -d) || ferry_fail "cannot create a temporary directory"
    # The manifest goes first: the files' modes on disk are the store's
    # (write bits cleared), the manifest's are the artifact's.
    { printf '.ferry/manifest\0' && awk -F'\t' '{ print $5 }' "$D/releases/$1/.ferry/manifest" | tr '\n' '\0'; } >"$ferry_t/list"
    # In a subshell that cd's there: GNU tar reads `\t` and the like in -C's
    # directory as escapes.
    if ! (cd "$D/releases/$1" && tar -czf "$ferry_t/tar" --hard-dereference --no-recursion --null -T "$ferry_t/list"); then
        rm -rf "$ferry_t"
        ferry_fail "cannot pack the files of release $1"
    fi
    ferry_say_file archive "$ferry_t/tar"
    rm -rf "$ferry_t"
}
