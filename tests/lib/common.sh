# shellcheck shell=bash
# Helpers every test script shares, with or without a test bed.
#   log MSG...                 timestamped line on stderr
#   fail MSG...                log "FAIL: MSG" and exit 1
#   expect WHAT HAYSTACK NEEDLE   fail unless HAYSTACK contains NEEDLE
#   wait_for SECONDS WHAT CMD...  run CMD every 0.5 s until it succeeds; fail after SECONDS
#   project_version TOP        the crate version from TOP/Cargo.toml
#   pacman_root ROOT CACHEDIR ARGS...   pacman on another root; fails on any "error:" line
#   loopback_nginx DIR ROOT PROBE [HTTP_LINES] [SERVER_LINES]   a throwaway nginx on 127.0.0.1

log() { printf '%s %s\n' "$(date +%T.%3N)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

expect() { # WHAT HAYSTACK NEEDLE
    grep -qF -- "$3" <<<"$2" || fail "$1: '$3' not in:\n$2"
}

wait_for() { # SECONDS WHAT CMD...
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "timed out waiting for $what"
        sleep 0.5
    done
}

project_version() { # TOP
    sed -n 's/^version = "\(.*\)"/\1/p' "$1/Cargo.toml" | head -1
}

# A failing scriptlet does not change pacman's exit status: any "error:"
# line fails too. Prints pacman's output.
pacman_root() { # ROOT CACHEDIR ARGS...
    local root=$1 cachedir=$2 out
    shift 2
    mkdir -p "$root/var/lib/pacman" "$cachedir" "$root/var/log"
    out=$(pacman --root "$root" --dbpath "$root/var/lib/pacman" --cachedir "$cachedir" \
        --logfile "$root/var/log/pacman.log" --noconfirm "$@" 2>&1) || {
        echo "$out" >&2
        fail "pacman $*"
    }
    ! grep -q '^error:' <<<"$out" || { echo "$out" >&2; fail "pacman $* printed errors"; }
    echo "$out"
}

# A throwaway nginx on 127.0.0.1 (a random high port) serving ROOT, with its
# config, pid and logs in DIR; HTTP_LINES and SERVER_LINES go into its http
# and server blocks as they are. Waits until ROOT's PROBE path answers, and
# sets NGINX_PID (the caller stops it) and URL.
loopback_nginx() { # DIR ROOT PROBE [HTTP_LINES] [SERVER_LINES]
    local dir=$1 root=$2 probe=$3 port=$((20000 + RANDOM % 20000))
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<CONF
pid $dir/nginx.pid;
error_log $dir/error.log;
events {}
http {
    client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir;
    uwsgi_temp_path $dir; scgi_temp_path $dir;
    ${4:-}
    server {
        listen 127.0.0.1:$port;
        root $root;
        ${5:-}
    }
}
CONF
    /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
    NGINX_PID=$!
    URL=http://127.0.0.1:$port
    for _ in $(seq 50); do curl -s -o /dev/null "$URL/$probe" && break; sleep 0.1; done
}
